"""Ask the model instead: can the attribution model itself judge whether its top chunks state a sentence?

A candidate support signal that was measured and not kept. For every sentence of a ``support_study.py`` dump, the
model reads the sentence's top ``--top`` chunks (by AttnLRP share, in prompt order) and the question "Is the claim
fully supported by the passages?"; the signal is log P(Yes) - log P(No) at its first answer token. Prints its
AUROC for unsupported sentences per data set, beside the best share's.

    python benchmarks/judge_study.py /tmp/study_dev_qwen.json [--model qwen2.5-0.5b] [--top 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rag_attrib.eval import load_many
from rag_attrib.eval.metrics import auroc
from rag_attrib.model import load_model

QUESTION = "Passages:\n{passages}\n\nClaim: {claim}\n\nIs the claim fully supported by the passages? Answer Yes or No."


@torch.no_grad()
def judge(model, tokenizer, passages: list[str], claim: str, yes: list[int], no: list[int]) -> float:
    messages = [{"role": "user", "content": QUESTION.format(passages="\n\n".join(passages), claim=claim)}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                        return_tensors="pt")["input_ids"]
    logp = model(input_ids=ids.to(model.device)).logits[0, -1].double().log_softmax(-1)
    return float(torch.logsumexp(logp[yes], 0) - torch.logsumexp(logp[no], 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("--model")
    parser.add_argument("--top", type=int, default=2)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.dump) as f:
        dump = json.load(f)
    model, tokenizer = load_model(args.model)
    cases = {c.id: c for c in load_many(dump["data"])}
    yes = [tokenizer.encode(w, add_special_tokens=False)[0] for w in ("Yes", " Yes", "yes")]
    no = [tokenizer.encode(w, add_special_tokens=False)[0] for w in ("No", " No", "no")]
    start = time.perf_counter()
    for row in dump["rows"]:
        chunks = cases[row["case"]].chunks
        top = sorted(sorted(range(len(chunks)), key=lambda j: -row["shares"][j])[: args.top])
        row["judge"] = judge(model, tokenizer, [chunks[j].text for j in top], row["text"], yes, no)
    print(f"{dump['model']} judging with its top {args.top} chunks; {time.perf_counter() - start:.0f} s")
    for source in dict.fromkeys(r["source"] for r in dump["rows"]):
        rows = [r for r in dump["rows"] if r["source"] == source]
        gold, other = [r for r in rows if r["gold"]], [r for r in rows if not r["gold"]]
        print(f"  {source}: {len(rows)} sentences, {len(other)} unsupported; judge AUROC "
              f"{auroc([r['judge'] for r in gold], [r['judge'] for r in other]):.3f}, best share "
              f"{auroc([max(r['shares']) for r in gold], [max(r['shares']) for r in other]):.3f}")


if __name__ == "__main__":
    main()
