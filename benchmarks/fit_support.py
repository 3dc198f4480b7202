"""Fit the support model (a logistic regression over per-sentence signals) on dev dumps; report held-out AUROC.

Each candidate feature set is scored on the dev dumps only, each sentence by a fit that did not see its group:
where the dev rows come from several documentation families (``realistic-dev`` has four, ``families-dev`` six),
the group is the family and the candidate with the best **worst-family** AUROC is chosen (transfer, not fit);
otherwise the group is the answer (leave-one-case-out), scored on each dump and by their mean, so that each kind
of prompt weighs the same. The best one is fitted on all of dev and then, once, evaluated on every other dump
given (never used for a choice), with a breakdown by kind of unsupported sentence and by answer style. Dumps come
from ``benchmarks/support_study.py``; a ``--features-out`` file (the features a shipped model was fitted on) is a
dev dump too.

    python benchmarks/fit_support.py --dev /tmp/study_dev.json --eval /tmp/study_test.json /tmp/study_para.json \
        --features-out benchmarks/support/qwen_dev_features.json
    python benchmarks/fit_support.py --dev benchmarks/support/qwen_dev_features.json --dev /tmp/study_short.json

Dumps that ``benchmarks/judge_study.py --out`` wrote carry a judge's answer as one more candidate feature
(``judge``: its log P(Yes) - log P(No)); their ``--calibration-out`` fit goes under the calibration's
``support_judged`` key with the judge's name (``Attributor.load(judge=...)`` reads it), beside the plain fits.
Each candidate is also tried with its gain, and then its share too, relative to the answer's mean
(``rel_gain_per_token``, ``rel_best_share``: ``rag_attrib.support.with_answer``):

    python benchmarks/fit_support.py --dev /tmp/fdev_judge15.json --dev /tmp/rdev_judge15.json \
        --features-out benchmarks/support/qwen_judged_dev_features.json \
        --calibration-out rag_attrib/calibration/qwen2.5-0.5b.json

``--features-out`` writes the dev features the model was fitted on (no text), which a test refits to check that
the shipped weights come from the dev split alone. ``--calibration-out`` writes the chosen fit, with that features
file and its provenance, into a model's calibration file as the part its dev set calibrates (``short-dev``: short
chunks, ``realistic-dev``: paragraphs), with the chunk length up to / from which it decides:

    python benchmarks/fit_support.py --dev /tmp/study_short_qwen.json \
        --features-out benchmarks/support/qwen_short_dev_features.json \
        --calibration-out rag_attrib/calibration/qwen2.5-0.5b.json
"""

from __future__ import annotations

import argparse
import json

import torch

from rag_attrib.eval import load_many
from rag_attrib.eval.data import STYLES, UNSUPPORTED_KINDS, family_of
from rag_attrib.eval.metrics import auroc
from rag_attrib.model import OFFLINE, provenance, write_calibration
from rag_attrib.support import FEATURES, RELATIVE, features, fit_logistic, mean_words, with_answers

# The dev set a fit is chosen on -> the part of a model's support (``ByChunkLength``) it is.
PARTS = {"short-dev": "short", "realistic-dev": "long", "families-dev": "long"}


def load(path: str) -> tuple[list[dict], str, dict]:
    """The dump's rows (each with its ``features``), a name for it, and the dump."""
    with open(path) as f:
        dump = json.load(f)
    signals = dump["rows"] if "features" in dump["rows"][0] else with_answers(dump["rows"], "case")  # rel_ features
    rows = [{**r, "family": family_of(r["case"], r.get("family")) or "-".join(dump["data"]),
             "features": r["features"] if "features" in r else features(r)} for r in signals]
    return rows, f"{dump['data']} ({dump['model']}, target {dump['target']})", dump


def matrix(rows: list[dict], names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[r["features"][n] for n in names] for r in rows], dtype=torch.float64)
    y = torch.tensor([1.0 if r["gold"] else 0.0 for r in rows], dtype=torch.float64)
    return x, y


def scores_auroc(p: torch.Tensor, y: torch.Tensor) -> float:
    return auroc(p[y == 1].tolist(), p[y == 0].tolist())


def cross_validated(rows: list[dict], names: list[str], group: str = "case") -> torch.Tensor:
    """Support probabilities on the dev rows, each from a fit on the other groups (``"case"`` or ``"family"``)."""
    predicted = torch.zeros(len(rows), dtype=torch.float64)
    for held_out in sorted({r[group] for r in rows}):
        train = [r for r in rows if r[group] != held_out]
        held = [i for i, r in enumerate(rows) if r[group] == held_out]
        model = fit_logistic(*matrix(train, names), names)
        x, _ = matrix([rows[i] for i in held], names)
        predicted[held] = model.probability(x)
    return predicted


def summary(p: torch.Tensor, rows: list[dict]) -> str:
    """AUROC and the flag rates at one half, overall and per kind of unsupported sentence."""
    y = matrix(rows, [])[1]
    flags, supported = p < 0.5, y == 1
    line = (f"AUROC {scores_auroc(p, y):.3f}; at 0.5 flags {int(flags[~supported].sum())}/{int((~supported).sum())}"
            f" unsupported, {int(flags[supported].sum())}/{int(supported.sum())} supported")
    for kind in UNSUPPORTED_KINDS:
        of_kind = torch.tensor([r["kind"] == kind for r in rows])
        if of_kind.any():
            line += (f"; {kind} {auroc(p[supported].tolist(), p[of_kind].tolist()):.3f} "
                     f"({int(flags[of_kind].sum())}/{int(of_kind.sum())})")
    return line


def print_by_style(p: torch.Tensor, rows: list[dict]) -> None:
    """``summary`` per answer style, where the rows say it (``support_study.py`` dumps of ``short-dev``)."""
    for style in STYLES:
        styled = [i for i, r in enumerate(rows) if r.get("style") == style]
        if styled:
            print(f"    {style} answers: {summary(p[styled], [rows[i] for i in styled])}")


def judge_of(dumps: list[dict]) -> str | None:
    """The offline name of the judge whose answers the dumps carry (None where they carry none). A fit that ships
    reads the judge as ``Attributor`` asks it: on the evidence passage, ``rag_attrib.judge.QUESTION``."""
    if not any("judge" in d for d in dumps):
        return None
    titles = {d.get("judge") for d in dumps}
    names = [name for name, spec in OFFLINE.items() if {spec.title} == titles]
    if not names or not all(d.get("evidence") and d.get("question") == "support" for d in dumps):
        raise ValueError(f"the judged dumps must all come from one named offline model asked the 'support' question "
                         f"on the evidence passage (judge_study.py --evidence); they hold {sorted(map(str, titles))}")
    return names[0]


def words_bound(dev_sets: list[str]) -> float:
    """The mean chunk length in words up to which a short fit decides (the longest of its dev sets' prompts), or
    from which a long one does (the shortest), to a tenth of a word."""
    lengths = [mean_words([c.text for c in case.chunks]) for case in load_many(dev_sets)]
    return round(max(lengths) if PARTS[dev_sets[0]] == "short" else min(lengths), 1)


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


def relative_candidates(candidates: list[list[str]]) -> list[list[str]]:
    """Each candidate, then with its gain relative to the answer's mean, then with its share relative too."""
    out = []
    for names in candidates:
        gain = ["rel_gain_per_token" if n == "gain_per_token" else n for n in names]
        both = [f"rel_{n}" if n in RELATIVE else n for n in names]
        for c in (names, gain, both):
            if c not in out:
                out.append(c)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", required=True, action="append", help="a dev dump; repeatable")
    parser.add_argument("--eval", nargs="*", default=[])
    parser.add_argument("--features-out")
    parser.add_argument("--calibration-out", help="a model's calibration file (rag_attrib/calibration/<model>.json): "
                        "write the chosen fit into it (needs --features-out)")
    args = parser.parse_args()
    parts = [load(path) for path in args.dev]
    for path, (_, _, dump) in zip(args.dev, parts):
        if not all(name.endswith("-dev") for name in dump["data"]):
            parser.error(f"--dev {path} holds {dump['data']}: fit on dev splits only (realistic-dev, short-dev); "
                         "the other sets are for --eval")
    if len({(dump["model"], dump["target"]) for _, _, dump in parts}) > 1:
        parser.error("the --dev dumps come from different models or targets; a support model is fitted per model")
    dev_sets = sorted({name for _, _, dump in parts for name in dump["data"]})
    try:
        judged = judge_of([dump for _, _, dump in parts])
    except ValueError as e:
        parser.error(str(e))
    if args.calibration_out and not args.features_out:
        parser.error("--calibration-out needs --features-out: a test refits every shipped fit from its dev features")
    if args.calibration_out and (not set(dev_sets) <= set(PARTS) or len({PARTS[d] for d in dev_sets}) != 1):
        parser.error(f"--calibration-out writes one fit, on dev sets of one part ({', '.join(PARTS)}); the --dev "
                     f"dumps hold {dev_sets}")
    dev = [r for rows, _, _ in parts for r in rows]
    part_of = [i for i, (rows, _, _) in enumerate(parts) for _ in rows]
    in_part = [[j for j, k in enumerate(part_of) if k == i] for i in range(len(parts))]  # dev rows of each dump
    assert all(n in FEATURES for c in CANDIDATES for n in c)
    candidates = CANDIDATES
    if all("judge" in r["features"] for r in dev):
        candidates = CANDIDATES + [["judge"]] + [c + ["judge"] for c in CANDIDATES if len(c) > 1 or c == ["best_share"]]
    if all(f"rel_{name}" in r["features"] for r in dev for name in RELATIVE):
        candidates = relative_candidates(candidates)
    for rows, name, _ in parts:
        print(f"dev: {name}: {len(rows)} sentences, {sum(not r['gold'] for r in rows)} unsupported")
    families = sorted({r["family"] for r in dev})
    group = "family" if len(families) > 1 else "case"
    if group == "family":
        in_part = [[j for j, r in enumerate(dev) if r["family"] == f] for f in families]
        print(f"held out by family ({', '.join(families)}): chosen by the worst family's AUROC")
    results = []
    for names in candidates:
        p = cross_validated(dev, names, group)
        each = [scores_auroc(p[i], matrix([dev[j] for j in i], names)[1]) for i in in_part]
        inverted = [n for n, w in zip(names, fit_logistic(*matrix(dev, names), names).weights) if w < 0]
        if not inverted:
            results.append(((min(each), sum(each) / len(each)) if group == "family" else sum(each) / len(each),
                            names, p))
        print(f"  leave-one-{group}-out AUROC {' / '.join(f'{v:.3f}' for v in each)}  {'+'.join(names)}"
              + (f"  (not a candidate: a negative weight on {', '.join(inverted)})" if inverted else ""))
    if not results:
        parser.error("every candidate feature set gives some signal a negative weight; nothing to choose")
    best_value, best, predicted = max(results, key=lambda r: (r[0], -len(r[1])))
    model = fit_logistic(*matrix(dev, best), best)
    score = (f"worst family {best_value[0]:.3f}, mean {best_value[1]:.3f}" if group == "family"
             else f"mean {best_value:.3f}")
    print(f"chosen on dev: {'+'.join(best)} (held-out AUROC: {score})")
    groups = [(f, [dev[j] for j in i], i) for f, i in zip(families, in_part)] if group == "family" else \
        [(name, rows, in_part[i]) for i, (rows, name, _) in enumerate(parts)]
    for name, rows, i in groups:
        print(f"  leave-one-{group}-out on {name}: {summary(predicted[i], rows)}")
        print_by_style(predicted[i], rows)
    print("fitted:", json.dumps(model.to_dict()))
    if args.features_out:
        rows = [{"case": r["case"], "family": r["family"], "sentence": r["sentence"], "gold": r["gold"],
                 "kind": r["kind"], "features": r["features"]} for r in dev]
        data = [name for _, _, dump in parts for name in dump["data"]]
        judge = {k: parts[0][2][k] for k in ("judge", "evidence", "question")} if judged else {}
        head = json.dumps({"model": parts[0][2]["model"], "target": parts[0][2]["target"], "data": data,
                           **judge})[:-1]
        with open(args.features_out, "w") as f:  # one row per line: readable, and a diff shows what changed
            f.write(head + ', "rows": [\n' + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n")
    if args.calibration_out:
        fit = {**model.to_dict(), "features": args.features_out, **provenance(dev_sets)}
        part = PARTS[dev_sets[0]]
        if judged:
            if part != "long":
                parser.error("a fit that reads a judge is chosen for paragraphs (realistic-dev, families-dev); on "
                             "short chunks the plain fit decides, and rag_attrib reads no judged short fit")
            if "judge" not in best:
                parser.error(f"the fit chosen on the judged dumps ({'+'.join(best)}) does not read the judge; "
                             "nothing to write for it (the plain fits come from dumps without a judge)")
            write_calibration(args.calibration_out, parts[0][2]["model"], "support_judged.judge", judged)
        write_calibration(args.calibration_out, parts[0][2]["model"], f"support{'_judged' if judged else ''}.{part}",
                          {"words": words_bound(dev_sets), "fit": fit})
        print(f"wrote the {part} fit{f' read with the judge {judged}' if judged else ''} to {args.calibration_out}")
    for path in args.eval:
        rows, name, _ = load(path)
        p = model.probability(matrix(rows, best)[0])
        share = torch.tensor([r["features"]["best_share"] for r in rows], dtype=torch.float64)
        print(f"{name}: {len(rows)} sentences; support {summary(p, rows)}")
        print(f"  best share alone: AUROC {scores_auroc(share, matrix(rows, [])[1]):.3f}")
        print_by_style(p, rows)


if __name__ == "__main__":
    main()
