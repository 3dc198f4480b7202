"""Score a ``support_study.py`` dump with the consistency checker: each sentence against the evidence passage of
its top chunk (by AttnLRP share), as ``verify`` would read it; prints how well P(contradicted) finds the
contradictions and P(supported) the supported sentences, per family, the worst beside the mean.

    PYTHONPATH=. python benchmarks/checker/score.py DUMP --weights /tmp/checker.safetensors [--out OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from checker import LABELS, Checker

from rag_attrib.eval import load_many
from rag_attrib.eval.metrics import auroc
from rag_attrib.judge import evidence_passage
from rag_attrib.types import Span


def report(rows: list[dict]) -> None:
    by = {}
    for fam in sorted({r["family"] for r in rows}):
        fr = [r for r in rows if r["family"] == fam]
        sup = [r for r in fr if r["gold"]]
        con = [r for r in fr if r["kind"] == "contradiction"]
        uns = [r for r in fr if not r["gold"]]
        by[fam] = (auroc([r["checker"][1] for r in con], [r["checker"][1] for r in sup]),
                   auroc([r["checker"][0] for r in sup], [r["checker"][0] for r in uns]))
        print(f"  {fam}: {len(sup)} supported, {len(con)} contradictions, {len(uns)} unsupported; AUROC "
              f"P(contradicted) {by[fam][0]:.3f}, P(supported) {by[fam][1]:.3f}")
    for i, name in enumerate(("P(contradicted), contradictions against supported", ("P(supported), supported "
                                                                                   "against unsupported"))):
        values = [v[i] for v in by.values() if v[i] is not None]
        print(f"  {name}: mean {statistics.mean(values):.3f}, worst {min(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("--weights", required=True, help="train.py's output")
    parser.add_argument("--out")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.dump) as f:
        dump = json.load(f)
    checker = Checker.load(args.weights)
    cases = {c.id: c for c in load_many(dump["data"])}
    rows = dump["rows"]
    passages = [evidence_passage(cases[r["case"]].chunks[r["top"]].text, [Span(*s) for s in r["top_evidence"]])
                for r in rows]
    probs = torch.cat([checker.probabilities(passages[i:i + 32], [r["text"] for r in rows[i:i + 32]])
                       for i in range(0, len(rows), 32)])
    for r, p, passage in zip(rows, probs.tolist(), passages):
        r["checker"], r["checker_passage"] = p, passage
    print(f"{dump['data']}: {len(rows)} sentences; labels {LABELS}")
    report(rows)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dump, f)


if __name__ == "__main__":
    main()
