"""Transfer, not fit: support and contradiction signals scored by leaving whole documentation families out.

Reads ``support_study.py --tokens`` dumps of dev splits (``realistic-dev``, ``families-dev``): every sentence's
shares, log-probabilities per token with all chunks / none / without the top chunks, and the evidence passage of
its top chunk. For each candidate set of support features, a logistic regression is fitted on every family but
one and scored on the one left out; the table gives each family's AUROC and, at one half, the supported sentences
flagged and the unsupported ones caught, then the mean and the **worst family**. The candidate with the best
worst-family figure is chosen; nothing here ever reads a test split.

    python benchmarks/transfer.py /work/studies/qwen_realistic_dev_tok.json /work/studies/qwen_families_dev_tok.json

``--eval DUMP`` (test splits, once, after the choice) scores the chosen fit, fitted on all dev rows, per family.
The contradiction signals (``conflict_*``) are scored the same way among the sentences the support keeps.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from rag_attrib.eval import EvalCase, load_many
from rag_attrib.eval.data import family_of
from rag_attrib.eval.metrics import auroc
from rag_attrib.model import DEFAULT_MODEL, default_min_share, default_support
from rag_attrib.support import contradiction, features, fit_logistic
from rag_attrib.types import Chunk, Citation, Evidence, Span

SENSITIVE = 1.0  # a token is context-sensitive when the chunks change its log-probability by more than this (nats)


def family(row: dict) -> str:
    return family_of(row["case"], row.get("family")) or row["source"]


def token_features(row: dict) -> dict[str, float]:
    """Signals over a sentence's tokens: the gain of the context-sensitive ones, and the largest losses."""
    gain = [a - n for a, n in zip(row["tok_all"], row["tok_none"])]
    drop = [a - w for a, w in zip(row["tok_all"], row["tok_without_tops"])]
    sensitive = [g for g in gain if abs(g) > SENSITIVE]
    k = max(1, math.ceil(len(gain) / 4))
    return {
        "gain_sensitive": statistics.fmean(sensitive) if sensitive else 0.0,
        "gain_top_quarter": statistics.fmean(sorted(gain, reverse=True)[:k]),
        "drop_top_quarter": statistics.fmean(sorted(drop, reverse=True)[:k]),
        "sensitive_fraction": len(sensitive) / len(gain),
        "gain_min": min(gain),
        "drop_min": min(drop),
    }


def with_features(rows: list[dict]) -> list[dict]:
    """Every row's features: the shipped ones, the token ones, and ones normalised by the prompt itself."""
    out = []
    for r in rows:
        f = {**features(r), "share_over_chance": max(r["shares"]) * r["n_chunks"], **token_features(r)}
        out.append({**r, "family": family(r), "f": f})
    by_case: dict[str, list[dict]] = {}
    for r in out:
        by_case.setdefault(r["case"], []).append(r)
    for siblings in by_case.values():  # against the answer's other sentences: the prompt's own scale
        for name in ("best_share", "gain_per_token", "gain_sensitive"):
            values = [s["f"][name] for s in siblings]
            middle = statistics.median(values)
            for s in siblings:
                s["f"][f"{name}_vs_answer"] = s["f"][name] - middle
    return out


def matrix(rows: Sequence[dict], names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[r["f"][n] for n in names] for r in rows], dtype=torch.float64)
    y = torch.tensor([1.0 if r["gold"] else 0.0 for r in rows], dtype=torch.float64)
    return x, y


def leave_family_out(rows: list[dict], names: Sequence[str]) -> torch.Tensor:
    """Each row's support probability from a fit on every other family."""
    p = torch.zeros(len(rows), dtype=torch.float64)
    for fam in sorted({r["family"] for r in rows}):
        held = [i for i, r in enumerate(rows) if r["family"] == fam]
        train = [r for r in rows if r["family"] != fam]
        model = fit_logistic(*matrix(train, names), names)
        p[held] = model.probability(matrix([rows[i] for i in held], names)[0])
    return p


def rates(p: Sequence[float], rows: Sequence[dict], threshold: float = 0.5) -> dict[str, float]:
    """AUROC, supported flagged (below ``threshold``) and unsupported caught, contradictions caught."""
    sup = [v for v, r in zip(p, rows) if r["gold"]]
    uns = [v for v, r in zip(p, rows) if not r["gold"]]
    con = [v for v, r in zip(p, rows) if r.get("kind") == "contradiction"]
    share = lambda vs: sum(v < threshold for v in vs) / len(vs) if vs else float("nan")
    return {"auroc": auroc(sup, uns) if sup and uns else float("nan"), "sup_flagged": share(sup),
            "uns_flagged": share(uns), "con_flagged": share(con), "n": len(rows)}


def per_family(p: Sequence[float], rows: Sequence[dict], threshold: float = 0.5) -> dict[str, dict[str, float]]:
    fams = sorted({r["family"] for r in rows})
    return {f: rates([v for v, r in zip(p, rows) if r["family"] == f], [r for r in rows if r["family"] == f],
                     threshold) for f in fams}


def print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'family':18} {'n':>4} {'AUROC':>6} {'sup flagged':>12} {'uns caught':>11} {'contr caught':>13}")
    for fam, m in table.items():
        print(f"  {fam:18} {m['n']:>4} {m['auroc']:6.3f} {m['sup_flagged']:12.0%} {m['uns_flagged']:11.0%} "
              f"{m['con_flagged']:13.0%}")
    for name, pick in (("mean", statistics.fmean), ("worst", None)):
        if pick:
            row = {k: pick([m[k] for m in table.values() if not math.isnan(m[k])]) for k in ("auroc", "sup_flagged",
                                                                                              "uns_flagged", "con_flagged")}
        else:
            row = {"auroc": min(m["auroc"] for m in table.values()),
                   "sup_flagged": max(m["sup_flagged"] for m in table.values()),
                   "uns_flagged": min(m["uns_flagged"] for m in table.values()),
                   "con_flagged": min(m["con_flagged"] for m in table.values() if not math.isnan(m["con_flagged"]))}
        print(f"  {name:18} {'':>4} {row['auroc']:6.3f} {row['sup_flagged']:12.0%} {row['uns_flagged']:11.0%} "
              f"{row['con_flagged']:13.0%}")


CANDIDATES = [
    ["best_share"],
    ["best_share", "gain_per_token"],
    ["best_share", "gain_per_token", "drop_per_token"],
    ["best_share", "grounding", "gain_per_token", "drop_per_token", "lp_per_token"],  # the shipped realistic fit
    ["best_share", "gain_sensitive"],
    ["best_share", "gain_top_quarter"],
    ["best_share", "gain_top_quarter", "drop_top_quarter"],
    ["best_share_vs_answer", "gain_per_token_vs_answer"],
    ["best_share", "best_share_vs_answer", "gain_top_quarter"],
    ["share_over_chance", "gain_top_quarter"],
    ["best_share", "sensitive_fraction", "gain_sensitive"],
]


def worst(table: dict[str, dict[str, float]], key: str) -> float:
    values = [m[key] for m in table.values() if not math.isnan(m[key])]
    return min(values) if key in ("auroc", "uns_flagged", "con_flagged") else max(values)


def conflict_scores(rows: Sequence[dict], cases: dict[str, EvalCase], min_share: float) -> dict[str, list[float]]:
    """Candidate contradiction scores per row (higher: more likely contradicted): the largest losses of a token's
    log-probability, and ``contradiction`` (what ``Attributor`` runs) on the top chunk's evidence, by kind."""
    kinds = ("number", "flag", "state", "code", "opposite")
    out: dict[str, list[float]] = {"drop_min": [], "gain_min": [], **{f"typed_{k}": [] for k in kinds}, "typed_any": []}
    for r in rows:
        out["drop_min"].append(-r["f"]["drop_min"])
        out["gain_min"].append(-r["f"]["gain_min"])
        case = cases[r["case"]]
        texts = [c.text for c in case.chunks]
        evidence = tuple(Evidence(Span(*span), 1.0) for span in r.get("top_evidence") or ())
        known = "\n".join([case.question, *(texts[j] for j, share in enumerate(r["shares"])
                                            if j != r["top"] and share >= min_share)])
        conflict = contradiction(r["text"], Citation(str(r["top"]), 1.0, 1.0, evidence), Chunk(str(r["top"]), texts[r["top"]]),
                                 known)
        found = conflict.kinds if conflict else ()
        for k in kinds:
            out[f"typed_{k}"].append(float(k in found))
        out["typed_any"].append(float(bool(found)))
    return out


def chosen_threshold(scores: Sequence[float], rows: Sequence[dict]) -> float:
    """The cut (flag at or above) that best separates contradictions from supported sentences (Youden's J)."""
    pos = [s for s, r in zip(scores, rows) if r.get("kind") == "contradiction"]
    neg = [s for s, r in zip(scores, rows) if r["gold"]]
    best = (0.0, math.inf)  # no cut that catches more contradictions than it flags supported sentences: none
    for t in sorted(set(scores)):
        j = sum(s >= t for s in pos) / max(len(pos), 1) - sum(s >= t for s in neg) / max(len(neg), 1)
        best = max(best, (j, t))
    return best[1]


def report_conflicts(rows: list[dict], support: Sequence[float], cases: dict[str, EvalCase], min_share: float) -> None:
    """Each contradiction signal among the sentences the support keeps (p >= 0.5): the cut chosen on the other
    families, then per family the supported sentences it flags and the contradictions it catches; and the
    verdicts together (flagged: unsupported by the support, or contradicted)."""
    kept = [i for i, p in enumerate(support) if p >= 0.5]
    scores = conflict_scores(rows, cases, min_share)
    fams = sorted({r["family"] for r in rows})
    print("\ncontradiction signals (among kept sentences; cut chosen on the other families):")
    for name, values in scores.items():
        flagged = [False] * len(rows)
        for fam in fams:
            train = [i for i in kept if rows[i]["family"] != fam]
            # a rule (0 or 1) has no cut to choose; a score gets the one that separates best on the other families
            cut = 1.0 if name.startswith("typed_") else chosen_threshold([values[i] for i in train],
                                                                         [rows[i] for i in train])
            for i in kept:
                if rows[i]["family"] == fam:
                    flagged[i] = values[i] >= cut
        verdict = [0.0 if (p < 0.5 or f) else 1.0 for p, f in zip(support, flagged)]
        table = per_family(verdict, rows)
        sup = sum(flagged[i] for i in kept if rows[i]["gold"]) / max(sum(1 for i in kept if rows[i]["gold"]), 1)
        con = [i for i in kept if rows[i].get("kind") == "contradiction"]
        print(f"  {name:14} kept supported flagged {sup:5.0%}, kept contradictions caught "
              f"{sum(flagged[i] for i in con) / max(len(con), 1):5.0%} ({len(con)}); with the support: worst family "
              f"sup flagged {worst(table, 'sup_flagged'):.0%}, uns caught {worst(table, 'uns_flagged'):.0%}, "
              f"contr caught {worst(table, 'con_flagged'):.0%}")


def report_shipped(rows: list[dict], model: str, cases: dict[str, EvalCase]) -> None:
    """What ships for this model, fitted on nothing here: its support model at one half, then with the
    contradiction rule (``typed_conflict`` on the top chunk's evidence) among the sentences it keeps."""
    support = default_support(model)
    if support is None:
        print(f"\n{model} ships no support model")
        return
    min_share = default_min_share(model)
    p = [v if (v := support(r)) is not None else float(max(r["shares"]) >= min_share) for r in rows]
    print_table(f"shipped support model of {model} (dev, nothing fitted here)", per_family(p, rows))
    conflict = conflict_scores(rows, cases, min_share)["typed_any"]
    verdict = [0.0 if v < 0.5 or c else 1.0 for v, c in zip(p, conflict)]
    print_table("... and contradicted where its top chunk's evidence states another value (typed_conflict)",
                per_family(verdict, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dev", nargs="+", help="support_study.py --tokens dumps of dev splits")
    parser.add_argument("--eval", nargs="*", default=[], help="dumps of test splits, scored once with the choice")
    parser.add_argument("--model", help="the named offline model the dumps come from, for its shipped support model "
                                        "(default: the default model)")
    args = parser.parse_args()
    args.model = args.model or DEFAULT_MODEL
    dumps = [json.loads(Path(path).read_text()) for path in args.dev]
    for path, dump in zip(args.dev, dumps):
        if not all(name.endswith("-dev") for name in dump["data"]) or not dump.get("tokens"):
            parser.error(f"{path}: choose on --tokens dumps of dev splits only; test splits go to --eval")
    rows = with_features([r for d in dumps for r in d["rows"]])
    print(f"dev: {len(rows)} sentences, {sum(not r['gold'] for r in rows)} unsupported, families: "
          + ", ".join(f"{f} {sum(r['family'] == f for r in rows)}" for f in sorted({r['family'] for r in rows})))
    results = []
    judged = all("judge" in r["f"] for r in rows)  # judge_study.py --out dumps: the judge is a candidate too
    for names in CANDIDATES + ([["judge"]] + [c + ["judge"] for c in CANDIDATES] if judged else []):
        inverted = [n for n, w in zip(names, fit_logistic(*matrix(rows, names), names).weights) if w < 0]
        if inverted:  # no signal may count against support
            print(f"  {'+'.join(names):60} not a candidate: a negative weight on {', '.join(inverted)}")
            continue
        table = per_family(leave_family_out(rows, names).tolist(), rows)
        results.append((names, table))
        print(f"  {'+'.join(names):60} worst AUROC {worst(table, 'auroc'):.3f}  mean "
              f"{statistics.fmean(m['auroc'] for m in table.values()):.3f}  worst sup flagged "
              f"{worst(table, 'sup_flagged'):.0%}  worst uns caught {worst(table, 'uns_flagged'):.0%}")
    cases = {c.id: c for d in dumps for c in load_many(d["data"])}
    report_shipped(rows, args.model, cases)
    names, table = max(results, key=lambda nt: (worst(nt[1], "auroc"), -len(nt[0])))
    print_table(f"chosen by worst-family AUROC: {'+'.join(names)} (each family scored by a fit on the others)", table)
    report_conflicts(rows, leave_family_out(rows, names).tolist(), cases, default_min_share(args.model))
    model = fit_logistic(*matrix(rows, names), names)
    print("fitted on all dev:", json.dumps(model.to_dict()))
    for path in args.eval:
        dump = json.loads(Path(path).read_text())
        if not dump.get("tokens"):
            parser.error(f"--eval {path}: a support_study.py --tokens dump is needed (per-token log-probabilities)")
        test = with_features(dump["rows"])
        print(f"\nheld out: {dump['data']}, {len(test)} sentences")
        report_shipped(test, args.model, {c.id: c for c in load_many(dump["data"])})
        p = model.probability(matrix(test, names)[0]).tolist()
        print_table(f"held out, the fit chosen above: {dump['data']}", per_family(p, test))


if __name__ == "__main__":
    main()
