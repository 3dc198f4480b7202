"""Ask the model instead: can the attribution model itself judge whether its top chunks state a sentence?

A candidate support signal that was measured and not kept. For every sentence of a ``support_study.py`` dump, the
model reads the sentence's top ``--top`` chunks (by AttnLRP share, in prompt order), or with ``--evidence`` only the
evidence passage of its top chunk (the sentences the relevance's best span touches and one on either side), and a
yes/no ``--question``: ``support`` ("Is the claim fully supported?"), ``states`` (the same, with what counts spelt
out), ``true`` ("According to the passage, is this statement true?") or ``conflict`` ("Does the passage say
otherwise?"). The signal is log P(Yes) - log P(No) at its first answer token. Prints its AUROC for unsupported
sentences per data set, beside the best share's, and for dumps of the documentation families the AUROC per family
(supported against unsupported, and against contradictions alone), the worst beside the mean.

    python benchmarks/judge_study.py /tmp/study_dev_qwen.json [--judge qwen2.5-0.5b] [--top 2] [--threads 1]
    python benchmarks/judge_study.py benchmarks/support/qwen_families_dev_tok.json --evidence --question conflict

``--judge`` names the model that answers (any name or path ``load_model`` takes; by default the default model);
the top chunks are always the dump's own, by its attribution model's AttnLRP shares.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from rag_attrib.eval import load_many
from rag_attrib.eval.data import family_of
from rag_attrib.eval.metrics import auroc
from rag_attrib.judge import QUESTION, evidence_passage, judge
from rag_attrib.model import load_model
from rag_attrib.types import Span

QUESTIONS = {
    "support": QUESTION,  # the one the support model reads
    "conflict": "Passages:\n{passages}\n\nClaim: {claim}\n\nDo the passages say something different from the "
                "claim, such as another value, number, option, name or the opposite? Answer Yes or No.",
    "states": "Read the passage and the claim. Answer Yes if the passage states everything the claim says, with "
              "the same values, names and options; answer No if the claim adds, changes or contradicts anything."
              "\n\nPassage:\n{passages}\n\nClaim: {claim}\n\nAnswer Yes or No.",
    "true": "Passage:\n{passages}\n\nAccording to the passage, is this statement true? {claim}\n"
            "Answer Yes or No.",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("--judge", help="the model that answers (default: the default model)")
    parser.add_argument("--top", type=int, default=2)
    parser.add_argument("--evidence", action="store_true", help="read the top chunk's evidence passage alone")
    parser.add_argument("--question", choices=sorted(QUESTIONS), default="support")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="write the dump with each row's judge value here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.dump) as f:
        dump = json.load(f)
    model, tokenizer = load_model(args.judge)
    cases = {c.id: c for c in load_many(dump["data"])}
    start = time.perf_counter()
    for row in dump["rows"]:
        chunks = cases[row["case"]].chunks
        if args.evidence:
            passages = [evidence_passage(chunks[row["top"]].text, [Span(*s) for s in row["top_evidence"]])]
        else:
            top = sorted(sorted(range(len(chunks)), key=lambda j: -row["shares"][j])[: args.top])
            passages = [chunks[j].text for j in top]
        row["judge"] = judge(model, tokenizer, passages, row["text"], QUESTIONS[args.question])
    judge_name = model.name_or_path  # the model's name (its config holds the cache folder of a named model)
    read = "top chunk's evidence passage" if args.evidence else f"top {args.top} chunks"
    print(f"{judge_name} asked '{args.question}' with {dump['model']}'s {read}; {time.perf_counter() - start:.0f} s")
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
    if any(family_of(r["case"], r.get("family")) for r in dump["rows"]):
        by_family(dump["rows"], -1 if args.question == "conflict" else 1)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**dump, "judge": judge_name, "top": args.top, "evidence": args.evidence,
                       "question": args.question}, f)


def by_family(rows: list[dict], sign: int) -> None:
    """AUROC of the judge (``sign``: +1 where Yes means supported) per family: supported against unsupported,
    and against contradictions alone; the worst beside the mean."""
    table = {}
    of = {id(r): family_of(r["case"], r.get("family")) for r in rows}
    for family in sorted(set(of.values()) - {None}):
        fr = [r for r in rows if of[id(r)] == family]
        good = [sign * r["judge"] for r in fr if r["gold"]]
        table[family] = (auroc(good, [sign * r["judge"] for r in fr if not r["gold"]]),
                         auroc(good, [sign * r["judge"] for r in fr if r["kind"] == "contradiction"]))
        print(f"  {family}: AUROC unsupported {table[family][0]:.3f}, contradictions {table[family][1]:.3f}")
    for i, name in enumerate(("unsupported", "contradictions")):
        values = [v[i] for v in table.values() if v[i] is not None]
        print(f"  {name}: mean {statistics.mean(values):.3f}, worst {min(values):.3f}")

if __name__ == "__main__":
    main()
