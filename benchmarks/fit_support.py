"""Fit the support model (a logistic regression over per-sentence signals) on a dev dump; report held-out AUROC.

Each candidate feature set is scored by leave-one-case-out AUROC on the dev dump only; the best one is fitted on
all of dev and then, once, evaluated on every other dump given (never used for a choice). Dumps come from
``benchmarks/support_study.py``.

    python benchmarks/fit_support.py --dev /tmp/study_dev.json --eval /tmp/study_test.json /tmp/study_para.json \
        --features-out benchmarks/support/qwen_dev_features.json

``--features-out`` writes the dev features the model was fitted on (no text), which a test refits to check that
the shipped weights come from the dev split alone.
"""

from __future__ import annotations

import argparse
import json

import torch

from rag_attrib.eval.metrics import auroc
from rag_attrib.support import FEATURES, features, fit_logistic


def load(path: str) -> tuple[list[dict], str, dict]:
    """The dump's rows, a name for it, and the dump."""
    with open(path) as f:
        dump = json.load(f)
    return dump["rows"], f"{dump['data']} ({dump['model']}, target {dump['target']})", dump


def matrix(rows: list[dict], names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[features(r)[n] for n in names] for r in rows], dtype=torch.float64)
    y = torch.tensor([1.0 if r["gold"] else 0.0 for r in rows], dtype=torch.float64)
    return x, y


def scores_auroc(p: torch.Tensor, y: torch.Tensor) -> float:
    return auroc(p[y == 1].tolist(), p[y == 0].tolist())


def cross_validated(rows: list[dict], names: list[str]) -> float:
    """Leave-one-case-out AUROC on the dev rows."""
    cases = sorted({r["case"] for r in rows})
    predicted = torch.zeros(len(rows), dtype=torch.float64)
    for case in cases:
        train = [r for r in rows if r["case"] != case]
        held = [i for i, r in enumerate(rows) if r["case"] == case]
        model = fit_logistic(*matrix(train, names), names)
        x, _ = matrix([rows[i] for i in held], names)
        predicted[held] = model.probability(x)
    return scores_auroc(predicted, matrix(rows, names)[1])


CANDIDATES = [
    ["best_share"],
    ["gain_per_token"],
    ["drop_per_token"],
    ["best_share", "gain_per_token"],
    ["best_share", "drop_per_token"],
    ["best_share", "gain_per_token", "drop_per_token"],
    ["best_share", "gain_per_token", "drop_per_token", "lp_per_token"],
    ["best_share", "grounding", "gain_per_token", "drop_per_token", "lp_per_token"],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", required=True)
    parser.add_argument("--eval", nargs="*", default=[])
    parser.add_argument("--features-out")
    args = parser.parse_args()
    dev, dev_name, dump = load(args.dev)
    if not all(name.endswith("-dev") for name in dump["data"]):
        parser.error(f"--dev {args.dev} holds {dump['data']}: fit on a dev split only (realistic-dev); the other "
                     "sets are for --eval")
    assert all(n in FEATURES for c in CANDIDATES for n in c)
    print(f"dev: {dev_name}: {len(dev)} sentences, {sum(not r['gold'] for r in dev)} unsupported")
    results = [(cross_validated(dev, names), names) for names in CANDIDATES]
    for value, names in results:
        print(f"  leave-one-case-out AUROC {value:.3f}  {'+'.join(names)}")
    best_value, best = max(results, key=lambda r: (r[0], -len(r[1])))
    model = fit_logistic(*matrix(dev, best), best)
    print(f"chosen on dev: {'+'.join(best)} (cv AUROC {best_value:.3f})")
    print("fitted:", json.dumps(model.to_dict()))
    if args.features_out:
        rows = [{"case": r["case"], "sentence": r["sentence"], "gold": r["gold"], "kind": r["kind"],
                 "features": features(r)} for r in dev]
        head = json.dumps({"model": dump["model"], "target": dump["target"], "data": dump["data"]})[:-1]
        with open(args.features_out, "w") as f:  # one row per line: readable, and a diff shows what changed
            f.write(head + ', "rows": [\n' + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n")
    for path in args.eval:
        rows, name, _ = load(path)
        x, y = matrix(rows, best)
        p = model.probability(x)
        flags = p < 0.5
        supported, unsupported = y == 1, y == 0
        share_auroc = scores_auroc(torch.tensor([features(r)["best_share"] for r in rows], dtype=torch.float64), y)
        print(f"{name}: {len(rows)} sentences; support AUROC {scores_auroc(p, y):.3f} (best share alone "
              f"{share_auroc:.3f}); at 0.5 flags {float(flags[unsupported].double().mean()):.0%} of unsupported, "
              f"{float(flags[supported].double().mean()):.0%} of supported")


if __name__ == "__main__":
    main()
