"""The judge as a support feature, by leaving whole families out: the table of benchmarks/transfer.md.

Reads the ``support_study.py --tokens`` dumps of the dev splits and the judges' answers for their sentences
(``support/judge_dev.json``: ``judge_study.py --evidence`` of the default model, ``judge``, and of the 1.5B,
``judge_1.5b``), and prints, per support fit, the AUROC and the flag rates at one half over the ten families
(mean / worst family; each family scored by a fit on the other nine), and the AUROC over the six new families
alone. The first row is the shipped fit (fitted on realistic-dev, so its four families are not held out).
``--test DUMP --test-judges FILE`` (once, after the choice) scores the 1.5B fit chosen on dev, fitted on all of
dev (the one shipped as ``Attributor.load(judge="qwen2.5-1.5b")``'s), and the shipped fit on a held-out split, per family.

    python benchmarks/judge_transfer.py benchmarks/support/qwen_realistic_dev_tok.json \
        benchmarks/support/qwen_families_dev_tok.json --judges benchmarks/support/judge_dev.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from transfer import leave_family_out, matrix, per_family, with_features, worst

from rag_attrib.eval.data import FAMILY_OF_PREFIX
from rag_attrib.model import default_support
from rag_attrib.support import fit_logistic, with_answers

GAIN = ["best_share", "gain_per_token", "drop_per_token"]
REL = ["best_share", "rel_gain_per_token"]


def line(name: str, p: list[float], rows: list[dict]) -> None:
    table = per_family(p, rows)
    new = {f: v for f, v in table.items() if f not in FAMILY_OF_PREFIX.values()}

    def mean_worst(t: dict, key: str) -> str:
        m, w = statistics.fmean(v[key] for v in t.values()), worst(t, key)
        return f"{m:.3f} / {w:.3f}" if key == "auroc" else f"{m:.0%} / {w:.0%}"

    cells = [mean_worst(table, k) for k in ("auroc", "sup_flagged", "uns_flagged", "con_flagged")]
    print(f"| {name} | {' | '.join(cells)} | {mean_worst(new, 'auroc') if new else 'n/a'} |")


def load(dumps: list[str], judges: str, key: str) -> list[dict]:
    """The dumps' rows with the judge ``key`` as their ``judge``."""
    answers = {(r["case"], r["sentence"]): r[key] for r in json.loads(Path(judges).read_text())["rows"]}
    rows = [{**r, "judge": answers[r["case"], r["sentence"]]}
            for path in dumps for r in json.loads(Path(path).read_text())["rows"]]
    return with_features(with_answers(rows, "case"))  # the rel_ features too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", nargs="+", help="support_study.py --tokens dumps of the dev splits")
    parser.add_argument("--judges", required=True, help="the judges' answers per sentence (support/judge_dev.json)")
    parser.add_argument("--test", help="a support_study.py --tokens dump of a test split, scored once")
    parser.add_argument("--test-judges", help="the 1.5B judge's answers for --test's sentences")
    args = parser.parse_args()
    small, large = (load(args.dumps, args.judges, key) for key in ("judge", "judge_1.5b"))
    shipped = default_support("qwen2.5-0.5b")
    print("| support fit | AUROC | supported flagged | unsupported caught | contradictions caught | AUROC, six new |")
    print("|---|---|---|---|---|---|")
    line("shipped (realistic-dev in its fit)", [shipped({k: v for k, v in r.items() if k != "judge"}) for r in small],
         small)
    line("+".join(GAIN) + ", no judge", leave_family_out(small, GAIN).tolist(), small)
    line("... + judge, default model", leave_family_out(small, GAIN + ["judge"]).tolist(), small)
    line("best_share+gain_per_token + judge, 1.5B", leave_family_out(large, GAIN[:2] + ["judge"]).tolist(), large)
    line("+".join(GAIN) + " + judge, 1.5B", leave_family_out(large, GAIN + ["judge"]).tolist(), large)
    line("best_share+rel_gain_per_token + judge, 1.5B", leave_family_out(large, REL + ["judge"]).tolist(), large)
    if args.test:
        test = load([args.test], args.test_judges, "judge_1.5b")
        judged = default_support("qwen2.5-0.5b", judge="qwen2.5-1.5b")  # chosen by fit_support.py, fitted on all of dev
        chosen = list(judged.long.names)
        refit = fit_logistic(*matrix(large, chosen), chosen).weights
        assert judged.long.names == tuple(chosen) and all(abs(a - b) < 1e-4 for a, b in zip(judged.long.weights, refit)), \
            "the shipped fit that reads the judge is not the one chosen here: refit it (fit_support.py)"
        print(f"\nheld out, {len(test)} sentences; the shipped fit that reads the 1.5B judge (chosen on dev)")
        print("| support fit | AUROC | supported flagged | unsupported caught | contradictions caught | AUROC, six new |")
        print("|---|---|---|---|---|---|")
        line("shipped", [shipped({k: v for k, v in r.items() if k != "judge"}) for r in test], test)
        p = [judged(r) for r in test]
        line("+".join(chosen) + ", 1.5B", p, test)
        for family, rates in per_family(p, test).items():
            print(f"  {family}: {json.dumps({k: round(v, 3) for k, v in rates.items()})}")


if __name__ == "__main__":
    main()
