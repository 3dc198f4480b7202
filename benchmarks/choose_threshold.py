"""Per model, on dev: how AttnLRP ranks the chunks, and the ``min_share`` that best flags unsupported sentences.

    python benchmarks/choose_threshold.py /tmp/study_dev_smol.json /tmp/study_dev_qwen.json
    python benchmarks/choose_threshold.py --at 0.35 /tmp/study_test_q15.json    # held out: nothing chosen

Reads ``support_study.py`` dumps (one per model and target, on ``realistic-dev``). For each: hit@1 and MRR of the
gold chunk, where the top chunk sits in the prompt (first / middle / last third, as ``rag-attrib eval`` counts)
beside the gold chunks, the best share's AUROC for unsupported sentences, and the threshold that maximises
Youden's J (flagged unsupported minus flagged supported) over 0.05, 0.06, ..., 0.79: the per-model ``min_share``
in a model's calibration file comes from here, and only from the dev split; ``--calibration-out`` writes it there
(one dump):

    python benchmarks/choose_threshold.py /tmp/study_dev_q15.json --calibration-out rag_attrib/calibration/qwen2.5-1.5b.json
"""

from __future__ import annotations

import argparse
import json

from rag_attrib.eval.metrics import auroc, relative_position, third
from rag_attrib.model import provenance, write_calibration

THIRDS = ("first", "middle", "last")


def summary(rows: list[dict], at: float | None = None) -> dict:
    supported = [r for r in rows if r["gold"]]
    hits, ranks, tops, golds = [], [], [], []
    for r in supported:
        order = sorted(range(r["n_chunks"]), key=lambda i: -r["shares"][i])
        hits.append(order[0] in r["gold"])
        ranks.append(1 / (1 + min(order.index(g) for g in r["gold"])))
        tops.append(third(relative_position(order[0], r["n_chunks"])))
        golds += [third(relative_position(g, r["n_chunks"])) for g in r["gold"]]
    best_unsupported = [max(r["shares"]) for r in rows if not r["gold"]]
    best_supported = [max(r["shares"]) for r in supported]

    def flags(t: float) -> tuple[float, float]:
        return (sum(b < t for b in best_unsupported) / len(best_unsupported),
                sum(b < t for b in best_supported) / len(best_supported))

    chosen = max((round(0.05 + 0.01 * i, 2) for i in range(75)), key=lambda t: flags(t)[0] - flags(t)[1])
    return {
        "hit@1": sum(hits) / len(hits), "mrr": sum(ranks) / len(ranks),
        "top": [tops.count(t) / len(tops) for t in THIRDS], "gold": [golds.count(t) / len(golds) for t in THIRDS],
        "auroc": auroc(best_supported, best_unsupported), "chosen": chosen, "flags_at_chosen": flags(chosen),
        "flags_at_0.27": flags(0.27), "sentences": (len(best_supported), len(best_unsupported)),
        "flags_at": None if at is None else flags(at),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--at", type=float, help="a held-out dump: report the flags at this (shipped) min_share and "
                        "choose nothing")
    parser.add_argument("--calibration-out", help="a model's calibration file (rag_attrib/calibration/<model>.json): "
                        "write the chosen min_share into it (one dev dump)")
    args = parser.parse_args()
    if args.calibration_out and (len(args.dumps) != 1 or args.at is not None):
        parser.error("--calibration-out writes one model's min_share: give one dev dump, without --at")
    for path in args.dumps:
        with open(path) as f:
            dump = json.load(f)
        s = summary(dump["rows"], args.at)
        pct = " / ".join(f"{100 * x:.0f}" for x in s["top"])
        gold = " / ".join(f"{100 * x:.0f}" for x in s["gold"])
        print(f"{dump['model']} ({dump['target']} target, {dump['data']}; {s['sentences'][0]} supported, "
              f"{s['sentences'][1]} unsupported sentences)\n"
              f"  hit@1 {s['hit@1']:.3f}  MRR {s['mrr']:.3f}  top chunk first / middle / last third {pct} % "
              f"(gold {gold} %)  best-share AUROC {s['auroc']:.3f}")
        if args.at is not None:
            print(f"  at min_share {args.at:.2f}: flags {s['flags_at'][0]:.3f} of unsupported, "
                  f"{s['flags_at'][1]:.3f} of supported")
        else:
            print(f"  chosen min_share {s['chosen']:.2f}: flags {s['flags_at_chosen'][0]:.3f} of unsupported, "
                  f"{s['flags_at_chosen'][1]:.3f} of supported (at 0.27: {s['flags_at_0.27'][0]:.3f} / "
                  f"{s['flags_at_0.27'][1]:.3f})")
        if args.calibration_out:
            if not all(name.endswith("-dev") for name in dump["data"]):
                parser.error(f"{path} holds {dump['data']}: choose min_share on dev splits only")
            write_calibration(args.calibration_out, dump["model"], "min_share",
                              {"value": s["chosen"], **provenance(dump["data"])})
            print(f"  wrote min_share {s['chosen']:.2f} to {args.calibration_out}")


if __name__ == "__main__":
    main()
