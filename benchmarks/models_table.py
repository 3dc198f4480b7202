"""One markdown table of AttnLRP's rows from several ``rag-attrib eval --json`` files (one per model).

    python benchmarks/models_table.py /tmp/eval_smol.json /tmp/eval_qwen.json ... [--min-share MODEL=0.21 ...]

For every data set in the files, one row per model: hit@1, MRR, comp@1, how often unsupported and supported
sentences are flagged (at the run's ``min_share``, or at a threshold given per model, e.g. one chosen on a dev
split), the best share's AUROC, seconds per answer and the run's threads. Only numbers the files hold.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def rows(path: str, min_share: dict[str, float]) -> dict[str, dict]:
    with open(path) as f:
        run = json.load(f)
    threshold = min_share.get(run["model"], run["min_share"])
    by_source: dict[str, list] = defaultdict(list)
    for record in run["records"]:
        by_source[record["source"]].append(record)
    table = {}
    for source, records in by_source.items():
        summary = run["by_source"].get(source, run)["methods"]["attnlrp"]  # one data set: only the overall table
        best = [(max(r["methods"]["attnlrp"]["shares"]), bool(r["gold"])) for r in records]
        unsupported = [b for b, gold in best if not gold]
        supported = [b for b, gold in best if gold]
        table[source] = {
            "model": run["model"], "threads": run["environment"]["threads"], "min_share": threshold,
            "hit@1": summary["hit@1"], "mrr": summary["mrr"], "comp@1": summary["comp@1"],
            "flag unsup": sum(b < threshold for b in unsupported) / max(len(unsupported), 1),
            "flag sup": sum(b < threshold for b in supported) / max(len(supported), 1),
            "auroc": summary["auroc_unsupported"], "s/answer": summary["seconds_per_answer"],
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--min-share", action="append", default=[], metavar="MODEL=T",
                        help="flag at T for the model named MODEL (as the JSON names it)")
    args = parser.parse_args()
    min_share = {k: float(v) for k, v in (item.split("=", 1) for item in args.min_share)}
    tables = [rows(path, min_share) for path in args.files]
    print("| data | model | hit@1 | MRR | comp@1 | min_share | flag unsup | flag sup | AUROC | s / answer (threads) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for source in dict.fromkeys(s for t in tables for s in t):
        for t in tables:
            if source in t:
                r = t[source]
                print(f"| {source} | {r['model']} | {r['hit@1']:.3f} | {r['mrr']:.3f} | {r['comp@1']:.2f} | "
                      f"{r['min_share']:.2f} | {r['flag unsup']:.3f} | {r['flag sup']:.3f} | {r['auroc']:.3f} | "
                      f"{r['s/answer']:.1f} ({r['threads']}) |")


if __name__ == "__main__":
    main()
