"""Ask the model instead: can the attribution model itself judge whether its top chunks state a sentence?

A candidate support signal that was measured and not kept. For every sentence of a ``support_study.py`` dump, the
model reads the sentence's top ``--top`` chunks (by AttnLRP share, in prompt order) and the question "Is the claim
fully supported by the passages?"; the signal is log P(Yes) - log P(No) at its first answer token. Prints its
AUROC for unsupported sentences per data set, beside the best share's.

    python benchmarks/judge_study.py /tmp/study_dev_qwen.json [--judge qwen2.5-0.5b] [--top 2] [--threads 1]

``--judge`` names the model that answers (any name or path ``load_model`` takes; by default the default model);
the top chunks are always the dump's own, by its attribution model's AttnLRP shares.
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
    parser.add_argument("--judge", help="the model that answers (default: the default model)")
    parser.add_argument("--top", type=int, default=2)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="write the dump with each row's judge value here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.dump) as f:
        dump = json.load(f)
    model, tokenizer = load_model(args.judge)
    cases = {c.id: c for c in load_many(dump["data"])}
    yes = [tokenizer.encode(w, add_special_tokens=False)[0] for w in ("Yes", " Yes", "yes")]
    no = [tokenizer.encode(w, add_special_tokens=False)[0] for w in ("No", " No", "no")]
    start = time.perf_counter()
    for row in dump["rows"]:
        chunks = cases[row["case"]].chunks
        top = sorted(sorted(range(len(chunks)), key=lambda j: -row["shares"][j])[: args.top])
        row["judge"] = judge(model, tokenizer, [chunks[j].text for j in top], row["text"], yes, no)
    judge_name = model.name_or_path  # the model's name (its config holds the cache folder of a named model)
    print(f"{judge_name} judging with {dump['model']}'s top {args.top} chunks; {time.perf_counter() - start:.0f} s")
    for source in dict.fromkeys(r["source"] for r in dump["rows"]):
        rows = [r for r in dump["rows"] if r["source"] == source]
        gold, other = [r for r in rows if r["gold"]], [r for r in rows if not r["gold"]]
        print(f"  {source}: {len(rows)} sentences, {len(other)} unsupported; judge AUROC "
              f"{auroc([r['judge'] for r in gold], [r['judge'] for r in other]):.3f}, best share "
              f"{auroc([max(r['shares']) for r in gold], [max(r['shares']) for r in other]):.3f}")
        for key in ("kind", "style"):
            for value in sorted({r.get(key) for r in other} - {None}):
                bad = [r for r in other if r.get(key) == value]
                good = gold if key == "kind" else [r for r in gold if r.get(key) == value]
                print(f"    {key} {value}: {len(good)} / {len(bad)}; judge "
                      f"{auroc([r['judge'] for r in good], [r['judge'] for r in bad]):.3f}, best share "
                      f"{auroc([max(r['shares']) for r in good], [max(r['shares']) for r in bad]):.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**dump, "judge": judge_name, "top": args.top}, f)

if __name__ == "__main__":
    main()
