"""The harness: every method on every case, the metrics, one report (a dict; ``table`` prints it).

For each case, every method runs in turn (timed, its forward passes counted by a hook on the model), then
the faithfulness metrics re-score the sentences on prompts without the chosen chunks. Those log-probabilities
are cached per set of kept chunks and shared by all methods (they are the metric's cost, not a method's).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from ..attribute import model_name
from ..types import AttributorLike
from ..verdicts import is_supported
from . import metrics as M
from .data import UNSUPPORTED_KINDS, EvalCase
from .methods import (
    DEFAULT_METHODS,
    METHODS,
    ForwardCounter,
    Method,
    MethodOutput,
    Prepared,
    case_seed,
    count_forwards,
    prepare,
    sentence_logprobs,
)

FORMAT = "rag_attrib.eval"
FORMAT_VERSION = 1


def resolve_methods(names: Sequence[str] | None, attributor: AttributorLike | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    """The methods to run and the ones skipped (name -> why) with ``attributor`` (None: not loaded yet, so only
    what this machine lacks counts). Unknown names raise ``ValueError``."""
    names = list(names or DEFAULT_METHODS)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    run, skipped = [], {}
    for name in dict.fromkeys(names):
        why = METHODS[name].unavailable(attributor)
        if why is None:
            run.append(name)
        else:
            skipped[name] = why
    return run, skipped


def run_eval(
    attributor: AttributorLike,
    cases: Sequence[EvalCase],
    methods: Sequence[str] | None = None,
    ks: Sequence[int] = (1, 2, 3),
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
    finished: Mapping[tuple[str, str], dict[str, Any]] | None = None,
    on_case: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``methods`` (default: all, the unavailable ones skipped) on ``cases``; return the report dict.

    A long run can be resumed: ``on_case`` receives each answer's result (a JSON-serialisable dict) as soon as it
    is done, and ``finished`` gives back results saved that way, keyed by (source, case id), which are then not
    run again. The caller checks that they were made with the same model and settings.
    """
    names, skipped = resolve_methods(methods, attributor)
    finished = finished or {}
    results = []
    for c, case in enumerate(cases):
        result = finished.get((case.source, case.id))
        if result is None:
            if progress:
                progress(c, len(cases), case.id)
            result = eval_case(attributor, case, names, ks, seed)
            if on_case:
                on_case(result)
        results.append(result)
    if progress:
        progress(len(cases), len(cases), "")
    records = [r for result in results for r in result["records"]]
    sources = list(dict.fromkeys(c.source for c in cases))

    def summaries(subset: list[str]) -> dict[str, dict[str, Any]]:
        recs = [r for r in records if r["source"] in subset]
        n = sum(c.source in subset for c in cases)
        mine = [result for result in results if result["source"] in subset]
        return {name: summarize_method(name, recs, _add(r["cost"][name] for r in mine), n, ks) for name in names}

    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": attributor.model_name,
        "judge": judge_name(attributor),
        "target": attributor.target,
        "min_share": attributor.min_share,
        "ks": list(ks),
        "seed": seed,
        "data": sources,
        "cases": len(cases),
        "sentences": len(records),
        "supported": sum(bool(r["gold"]) for r in records),
        "unsupported": sum(not r["gold"] for r in records),
        "methods": summaries(sources),
        "by_source": {src: {"cases": sum(c.source == src for c in cases), "methods": summaries([src])}
                      for src in sources} if len(sources) > 1 else {},
        "skipped": skipped,
        "metric_forwards": sum(result["metric_forwards"] for result in results),
        "resumed": len([c for c in cases if (c.source, c.id) in finished]),
        "environment": environment(attributor.model),
        "records": records,
    }


def eval_case(attributor: AttributorLike, case: EvalCase, names: Sequence[str], ks: Sequence[int], seed: int
              ) -> dict[str, Any]:
    """One answer: every method's scores and metrics per sentence (``records``), each method's cost, and the
    forward passes the faithfulness metrics took."""
    model = attributor.model
    cost = {}
    prepared = prepare(attributor, case, seed)
    logprobs = LogprobCache(attributor, prepared)
    everything = frozenset(range(prepared.n_chunks))
    with count_forwards(model) as counter:
        base = logprobs(everything)  # first: it also warms the model up before anything is timed
    metric_forwards = counter.count

    outputs, evidence = {}, {}
    chunk_index = {ch.id: j for j, ch in enumerate(case.chunks)}
    for name, out, seconds, forwards in _run_methods(names, attributor, prepared):
        scores = M.as_matrix(out.scores, prepared.n_sentences, prepared.n_chunks, name)
        shares = None if out.shares is None else M.as_matrix(out.shares, *scores.shape, name)
        support = None if out.support is None else out.support.double().cpu()
        outputs[name] = (scores, shares, support)
        evidence[name] = out.evidence
        cost[name] = {"seconds": seconds, "forwards": forwards, "backwards": out.backwards}
        for kept, values in (out.logprobs or {}).items():
            logprobs.cache.setdefault(frozenset(kept), values.detach().double().cpu())

    records: list[dict[str, Any]] = []
    with count_forwards(model) as counter:
        tie_break = M.tie_break_keys(prepared.n_chunks, case_seed(seed, case.id, "tie"))
        for i, sentence in enumerate(case.sentences):
            records.append({
                "case": case.id, "source": case.source, "sentence": i, "text": sentence.text,
                "gold": list(sentence.gold), "chunks": [ch.id for ch in case.chunks], "kind": sentence.kind,
                "gold_positions": [M.relative_position(g, prepared.n_chunks) for g in case.gold_indices(i)],
                "logprob": float(base[i]), "methods": {},
            })
        for name, (scores, shares, support) in outputs.items():
            drops = M.ablation_drops(scores, base, logprobs, ks, tie_break)
            signal = M.support_signal(scores, shares)
            flags = M.flagged(shares, attributor.min_share) if shares is not None else None
            # the support model's probability and verdict where it decided (NaN: the shares decide)
            probabilities = support.tolist() if support is not None else [math.nan] * len(signal)
            decided = [not math.isnan(p) for p in probabilities]
            if any(decided):
                flags = [not is_supported(p) if d else f
                         for p, d, f in zip(probabilities, decided, flags or [None] * len(signal))]
                signal = [p if d else x for p, d, x in zip(probabilities, decided, signal)]
            for i in range(prepared.n_sentences):
                gold = case.gold_indices(i)
                row: dict[str, Any] = {
                    "scores": [float(x) for x in scores[i]],
                    "support": signal[i],
                    "decided_by": "support" if decided[i] else "shares",
                    "flagged": None if flags is None else flags[i],
                    **{key: values[i] for key, values in drops.items()},
                }
                if shares is not None:
                    row["shares"] = [float(x) for x in shares[i]]
                if gold:
                    row["hit@1"] = M.expected_hit_at_1(scores[i].tolist(), gold)
                    row["rr"] = M.expected_reciprocal_rank(scores[i].tolist(), gold)
                    top = M.ranking(scores[i].tolist(), tie_break)[0]
                    row["top_position"] = M.relative_position(top, prepared.n_chunks)
                labelled = case.sentences[i].evidence or {}
                if evidence[name] is not None and labelled:
                    row["evidence_hit"] = M.mean([
                        M.evidence_hit(evidence[name].get((i, chunk_index[g])), spans)
                        for g, spans in labelled.items()
                    ])
                records[i]["methods"][name] = row
    metric_forwards += counter.count
    return {"case": case.id, "source": case.source, "records": records, "cost": cost,
            "metric_forwards": metric_forwards}

class LogprobCache:
    """Sentence log-probs of one case per set of kept chunks, computed once (one forward each)."""

    def __init__(self, attributor: AttributorLike, prepared: Prepared) -> None:
        self.attributor, self.prepared = attributor, prepared
        self.spans, self.skip = prepared.relative_sentences(), prepared.relative_skip()
        self.cache: dict[frozenset[int], torch.Tensor] = {}

    def __call__(self, kept: frozenset[int]) -> torch.Tensor:
        if kept not in self.cache:
            p = self.prepared
            self.cache[kept] = sentence_logprobs(self.attributor, p.case, kept, p.answer_ids, self.spans, self.skip)
        return self.cache[kept]


def judge_model(attributor: AttributorLike) -> Any:
    """The model beside the attribution model that answers the support model's judge question, or None."""
    judge = getattr(attributor, "judge", None)
    return judge[0] if judge and judge[0] is not attributor.model else None


def judge_name(attributor: AttributorLike) -> str | None:
    """The name of the judge model beside the attribution model, recorded in the report; None where it has none."""
    model = judge_model(attributor)
    return None if model is None else model_name(model)


def run_method(m: Method, attributor: AttributorLike, prepared: Prepared
               ) -> tuple[MethodOutput, float, ForwardCounter]:
    """The method's output, its wall time and the forward passes it made."""
    judge = judge_model(attributor)
    with count_forwards(attributor.model, *([] if judge is None else [judge])) as counter:
        start = time.perf_counter()
        out = m(attributor, prepared)
        seconds = time.perf_counter() - start
    return out, seconds, counter


def _run_methods(names: Sequence[str], attributor: AttributorLike, prepared: Prepared
                 ) -> Iterator[tuple[str, MethodOutput, float, int]]:
    """Each method's output, wall time and forward passes, in the order of ``names``.

    ``support`` is ``attnlrp`` plus the support model's passes, which run without autograd; when both are asked
    for, the attribution runs once and ``attnlrp`` gets its output without the support, at its cost without
    those passes (each counted and timed apart).
    """
    done: dict[str, tuple[MethodOutput, float, int]] = {}
    if "attnlrp" in names and "support" in names:
        out, seconds, counter = run_method(METHODS["support"], attributor, prepared)
        done["support"] = out, seconds, counter.count
        done["attnlrp"] = (dataclasses.replace(out, support=None), seconds - counter.no_grad_seconds,
                           counter.count - counter.no_grad_count)
    for name in names:
        if name not in done:
            out, seconds, counter = run_method(METHODS[name], attributor, prepared)
            done[name] = out, seconds, counter.count
        yield (name, *done[name])


def _add(costs: Any) -> dict[str, float]:
    total = {"seconds": 0.0, "forwards": 0, "backwards": 0}
    for c in costs:
        for k in total:
            total[k] += c[k]
    return total


def summarize_method(name: str, records: list[dict[str, Any]], cost: dict[str, float], n_cases: int,
                     ks: Sequence[int]) -> dict[str, Any]:
    rows = [(r, r["methods"][name]) for r in records]
    supported = [m for r, m in rows if r["gold"]]
    unsupported = [m for r, m in rows if not r["gold"]]
    summary: dict[str, Any] = {
        "hit@1": M.mean([m["hit@1"] for m in supported]),
        "mrr": M.mean([m["rr"] for m in supported]),
        "evidence@1": M.mean([m["evidence_hit"] for m in supported if "evidence_hit" in m]),
    }
    # where the top chunk sits (first / middle / last third of the prompt), against where the gold chunks sit
    tops = [M.third(m["top_position"]) for m in supported if "top_position" in m]
    golds = [M.third(p) for r, _ in rows if r["gold"] for p in r.get("gold_positions", ())]
    for part in ("first", "middle", "last"):
        summary[f"top_{part}"] = tops.count(part) / len(tops) if tops else None
        summary[f"gold_{part}"] = golds.count(part) / len(golds) if golds else None
    for k in ks:
        summary[f"comp@{k}"] = M.mean([m[f"comp@{k}"] for _, m in rows])
        summary[f"suff@{k}"] = M.mean([m[f"suff@{k}"] for _, m in rows])

    def flag_rate(sentences: list[dict[str, Any]]) -> float | None:
        """The share flagged among those of ``sentences`` the method flags or not (None: it flags none)."""
        return M.mean([float(m["flagged"]) for m in sentences if m["flagged"] is not None])

    summary["flagged_unsupported"] = flag_rate(unsupported)
    summary["flagged_supported"] = flag_rate(supported)
    for kind in UNSUPPORTED_KINDS:  # which kinds of unsupported sentence are caught
        summary[f"flagged_{kind}"] = flag_rate([m for r, m in rows if not r["gold"] and r.get("kind") == kind])
    # one AUROC over one kind of signal: not over shares and support probabilities mixed (a support model that
    # leaves some prompts to the shares); then None, and each data set's own table has it
    kinds = {m.get("decided_by") for _, m in rows}
    summary["auroc_unsupported"] = (M.auroc([m["support"] for m in supported], [m["support"] for m in unsupported])
                                    if len(kinds) <= 1 else None)
    summary["seconds_per_answer"] = cost["seconds"] / n_cases if n_cases else None
    summary["forwards_per_answer"] = cost["forwards"] / n_cases if n_cases else None
    summary["backwards_per_answer"] = cost["backwards"] / n_cases if n_cases else None
    return summary


def environment(model: Any) -> dict[str, Any]:
    import transformers

    return {
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(getattr(model, "device", "cpu")),
        "dtype": str(getattr(model, "dtype", "")),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
