"""The harness: every method on every case, the metrics, one table (a dict, printed with rich, saved as JSON).

For each case, every method runs in turn (timed, its forward passes counted by a hook on the model), then
the faithfulness metrics re-score the sentences on prompts without the chosen chunks. Those log-probabilities
are cached per set of kept chunks and shared by all methods (they are the metric's cost, not a method's).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..types import AttributorLike, finite_json
from ..verdicts import is_supported
from . import metrics as M
from .data import UNSUPPORTED_KINDS, EvalCase, EvalDataError
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


class Checkpoint:
    """Each finished answer of a run appended to a JSONL file as soon as it is done, so that a run stopped by an
    error, Ctrl-C or a lost machine goes on where it stopped. The first line holds the run's settings: answers
    written with other settings are refused, never mixed in, and ``restart`` discards them. The file is written
    from the first finished answer on; one that holds no whole answer counts as absent.

    A line that holds no answer this run can use (a corrupted file: not JSON, or a value of the wrong type, or
    ``check_answer`` tells why) is set aside, in ``set_aside`` ("line N: why"), and its answer runs again."""

    def __init__(self, path: str | Path, settings: dict[str, Any], restart: bool = False,
                 check_answer: Callable[[Any], str | None] | None = None) -> None:
        self.path, self.settings = Path(path), settings
        if restart:
            self.remove()
        lines, intact = self.check(self.path, settings)
        self.finished: dict[tuple[str, str], dict[str, Any]] = {}
        self.set_aside: list[str] = []
        for n, answer in lines:
            why = _key_problem(answer) or (check_answer(answer) if check_answer else None)
            if why:
                self.set_aside.append(f"line {n}: {why}")
            else:
                self.finished[answer["source"], answer["case"]] = answer
        # whether the file holds this run's header and usable answers only
        self._written = bool(self.finished) and intact and not self.set_aside
        if self.finished and not self._written:  # rewrite it without the torn or set-aside lines before appending
            self._rewrite()

    @staticmethod
    def check(path: str | Path, settings: dict[str, Any]) -> tuple[list[tuple[int, Any]], bool]:
        """The lines after the settings in ``path`` (numbered from 1, as an editor does; ``NOT_JSON`` where a line
        is not JSON) and whether nothing else is there; refused (``EvalDataError``) where answers there were made
        with other values of any key of ``settings`` (a part of them can be checked early, before the model
        loads)."""
        path = Path(path)
        if not path.exists():
            return [], True
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise EvalDataError(f"cannot read the answers kept in {path} ({err}); pass --restart to discard them, "
                                "or another --json") from None
        lines = text.split("\n")[:-1]  # what follows the last newline was cut off by a kill: dropped
        header = _json_or(lines[0]) if lines else None
        numbered = [(n, _json_or(line)) for n, line in enumerate(lines[1:], start=2)]
        whole = sum(_key_problem(answer) is None for _, answer in numbered)
        if not whole:
            return numbered, text.endswith("\n")
        theirs = header.get("settings") if isinstance(header, dict) else None
        if not isinstance(theirs, dict):
            raise EvalDataError(
                f"the first line of {path} holds no settings of a rag-attrib eval run, so the {answers(whole)} "
                "after it cannot be checked; pass --restart to discard them, or another --json to keep them")
        settings = json.loads(json.dumps(settings))
        differ = [_difference(k, theirs.get(k), v) for k, v in settings.items() if k not in theirs or theirs[k] != v]
        if differ:
            raise EvalDataError(
                f"{path} holds {answers(whole)} of an earlier run with other settings ({'; '.join(differ)}); "
                "pass --restart to discard them, or another --json to keep them")
        return numbered, text.endswith("\n")

    @property
    def kept(self) -> int:
        """How many answers the file holds."""
        return len(self.finished)

    def __call__(self, result: dict[str, Any]) -> None:
        self.finished[result["source"], result["case"]] = result
        if not self._written:
            self._rewrite()
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(finite_json(result, "an eval answer") + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _rewrite(self) -> None:
        """The header and every kept answer, replacing the file at once (a kill leaves the old one or the new)."""
        rows = [{"settings": self.settings}, *self.finished.values()]
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as f:
            f.write("".join(finite_json(r, "an eval answer") + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._written = True


def answer_checker(cases: Sequence[EvalCase], names: Sequence[str], ks: Sequence[int]
                   ) -> Callable[[Any], str | None]:
    """``check(answer)``: why a kept answer cannot stand in a report of ``cases`` by ``names`` at ``ks`` (None:
    it can). Every value ``run_eval`` reads from it must be there with the type ``eval_case`` gives it, and
    what the data tell (each sentence's text and gold chunks) must be as they are, so that a corrupted
    checkpoint can never stop a run nor count in its report."""
    by_key = {(c.source, c.id): c for c in cases}

    def check(answer: Any) -> str | None:
        why = _key_problem(answer) or _shape_problem(answer, _ANSWER)
        if why:
            return why
        case = by_key.get((answer["source"], answer["case"]))
        if case is None:
            return f"an answer of case {json.dumps(answer['case'])} of {answer['source']}, which this run does not have"
        if len(answer["records"]) != len(case.sentences):
            return f"{len(answer['records'])} sentences where case {case.id} has {len(case.sentences)}"
        for name in names:
            cost = answer["cost"].get(name, _MISSING)
            if _shape_problem(cost, _COST):
                return f'"cost" of {name} is {_brief(cost)}, not {{"seconds": s, "forwards": n, "backwards": n}}'
        for i, record in enumerate(answer["records"]):
            why = _record_problem(record, i, case, answer, names, ks)
            if why:
                return f"sentence {i}{why}"
        return None

    return check


# the types of what an answer holds: a value's check and the words for it
_NUMBER = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number")
_INTEGER = (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_STRING = (lambda v: isinstance(v, str), "a string")
_LIST = (lambda v: isinstance(v, list), "a list")
_OBJECT = (lambda v: isinstance(v, dict), "a JSON object")
_ANSWER = {"records": _LIST, "cost": _OBJECT, "metric_forwards": _INTEGER}
_COST = {"seconds": _NUMBER, "forwards": _INTEGER, "backwards": _INTEGER}
_MISSING = object()
NOT_JSON = object()


def _shape_problem(value: Any, shape: dict[str, tuple[Callable[[Any], bool], str]]) -> str | None:
    """Which key of ``shape`` ``value`` (a JSON object) lacks, or holds something else than its type."""
    if not isinstance(value, dict):
        return "not JSON" if value is NOT_JSON else f"not a JSON object ({_brief(value)})"
    for key, (fits, kind) in shape.items():
        if key not in value:
            return f'"{key}" is missing'
        if not fits(value[key]):
            return f'"{key}" is {_brief(value[key])}, not {kind}'
    return None


def _key_problem(answer: Any) -> str | None:
    """Why ``answer`` names no answer at all (the least the checkpoint needs to keep it by case)."""
    return _shape_problem(answer, {"case": _STRING, "source": _STRING, "records": _LIST})


def _record_problem(record: Any, i: int, case: EvalCase, answer: dict[str, Any], names: Sequence[str],
                    ks: Sequence[int]) -> str | None:
    """Why the record of sentence ``i`` of ``case`` cannot be used (", method: why" or ": why"; None: it can)."""
    if not isinstance(record, dict):
        return f": not a JSON object ({_brief(record)})"
    n = len(case.chunks)
    sentence = case.sentences[i]
    as_in_the_data = {
        "case": answer["case"], "source": answer["source"], "sentence": i, "text": sentence.text,
        "gold": list(sentence.gold), "chunks": [ch.id for ch in case.chunks], "kind": sentence.kind,
        "gold_positions": [M.relative_position(g, n) for g in case.gold_indices(i)],
    }
    for key, value in as_in_the_data.items():
        if key not in record:
            return f': "{key}" is missing'
        if record[key] != value or type(record[key]) is not type(value):
            return f': "{key}" is {_brief(record[key])}, not {_brief(value)} as in the data'
    why = _shape_problem(record, {"logprob": _NUMBER, "methods": _OBJECT})
    if why:
        return f": {why}"
    for name in names:
        row = record["methods"].get(name, _MISSING)
        if row is _MISSING:
            return f", {name}: missing"
        why = _row_problem(row, n, bool(sentence.gold), ks)
        if why:
            return f", {name}: {why}"
    return None


def _row_problem(row: Any, n_chunks: int, gold: bool, ks: Sequence[int]) -> str | None:
    """Why one method's scores and metrics of one sentence cannot be used (None: they can)."""
    numbers = {"support": _NUMBER, **{f"{m}@{k}": _NUMBER for k in ks for m in ("comp", "suff")}}
    if gold:
        numbers.update({"hit@1": _NUMBER, "rr": _NUMBER, "top_position": _NUMBER})
    why = _shape_problem(row, numbers)
    if why:
        return why
    if row.get("decided_by") not in ("support", "shares"):
        return f'"decided_by" is {_brief(row.get("decided_by", _MISSING))}, not "support" or "shares"'
    if not (row.get("flagged", _MISSING) is None or isinstance(row.get("flagged"), bool)):
        return f'"flagged" is {_brief(row.get("flagged", _MISSING))}, not true, false or null'
    if "evidence_hit" in row and not _NUMBER[0](row["evidence_hit"]):
        return f'"evidence_hit" is {_brief(row["evidence_hit"])}, not a number'
    for key in ("scores", "shares") if "shares" in row else ("scores",):
        values = row.get(key, _MISSING)
        if not (isinstance(values, list) and len(values) == n_chunks and all(map(_NUMBER[0], values))):
            return f'"{key}" is {_brief(values)}, not {n_chunks} numbers (one per chunk)'
    return None


def answers(n: int) -> str:
    """ "1 answer", "3 answers"."""
    return f"{n} answer{'s' if n != 1 else ''}"


def _brief(value: Any) -> str:
    """A value in an error message: short ones as they are, long ones cut."""
    if value is _MISSING:
        return "missing"
    text = json.dumps(value)
    return text if len(text) <= 32 else text[:29] + "..."


def _difference(key: str, then: Any, now: Any) -> str:
    """``key: THEN then, NOW now``: short values in full, long ones (case lists, hashes) around where they first
    differ, so that the two never read the same."""
    a, b = ("none" if v is None else json.dumps(v) for v in (then, now))
    if max(len(a), len(b)) > 40:
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        start, end = max(0, at - 15), at + 25
        a, b = (("..." if start else "") + s[start:end] + ("..." if len(s) > end else "") for s in (a, b))
    return f"{key}: {a} then, {b} now"


def _json_or(line: str) -> Any:
    """The line's JSON value, or ``NOT_JSON``."""
    try:
        return json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return NOT_JSON


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


def run_method(m: Method, attributor: AttributorLike, prepared: Prepared
               ) -> tuple[MethodOutput, float, ForwardCounter]:
    """The method's output, its wall time and the forward passes it made."""
    with count_forwards(attributor.model) as counter:
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


# ---------------------------------------------------------------------------------------------- output

def columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """(key, label) of the table's columns, in order."""
    return (
        [("hit@1", "hit@1"), ("mrr", "MRR"), ("evidence@1", "evid@1"),
         ("top_first", "top 1st"), ("top_middle", "top mid"), ("top_last", "top last")]
        + [(f"comp@{k}", f"comp@{k}") for k in ks]
        + [(f"suff@{k}", f"suff@{k}") for k in ks]
        + [("flagged_unsupported", "flag unsup"), ("flagged_supported", "flag sup"), ("auroc_unsupported", "AUROC"),
           ("seconds_per_answer", "s/answer"), ("forwards_per_answer", "fwd"), ("backwards_per_answer", "bwd")]
    )


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in ("forwards_per_answer", "backwards_per_answer"):
        return f"{value:.1f}"
    if key == "seconds_per_answer":
        return f"{value:.2f}"
    if key.startswith(("top_", "gold_")):
        return f"{value:.0%}"
    return f"{value:.2f}" if key.startswith(("comp", "suff")) else f"{value:.3f}"


def table_rows(report: dict[str, Any], methods: dict[str, Any] | None = None) -> tuple[list[str], list[list[str]]]:
    keys = columns(report["ks"])
    header = ["method"] + [label for _, label in keys]
    methods = report["methods"] if methods is None else methods
    rows = [[name] + [_cell(k, m.get(k)) for k, _ in keys] for name, m in methods.items()]
    return header, rows


def caption(report: dict[str, Any]) -> str:
    env = report["environment"]
    return (f"{report['model']} ({env['dtype']}, {env['device']}, {env['threads']} threads); data: "
            f"{', '.join(report['data'])}: {answers(report['cases'])}, {report['sentences']} sentences "
            f"({report['supported']} with a gold chunk, {report['unsupported']} unsupported); "
            f"min_share {report['min_share']}" + _gold_positions(report) + _resumed(report))


def _resumed(report: dict[str, Any]) -> str:
    n = report.get("resumed", 0)
    return f"; {answers(n)} (and their seconds) from an earlier, stopped run" if n else ""


def _gold_positions(report: dict[str, Any]) -> str:
    first = next(iter(report["methods"].values()), {})
    if first.get("gold_first") is None:
        return ""
    return (f"; gold chunks in the first / middle / last third of the prompt: {first['gold_first']:.0%} / "
            f"{first['gold_middle']:.0%} / {first['gold_last']:.0%}")


def _tables(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(title, methods) of each table: one per data set when there are several, then all together."""
    tables = [(f"data: {src} ({answers(part['cases'])})", part["methods"]) for src, part in report.get("by_source", {}).items()]
    return tables + [("all data" if tables else "rag-attrib eval", report["methods"])]


def print_table(report: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    tables = []
    parts = _tables(report)
    for n, (title, methods) in enumerate(parts):
        header, rows = table_rows(report, methods)
        last = n == len(parts) - 1
        table = Table(title=title, caption=caption(report) if last else None, caption_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    width = console.width
    if not console.is_terminal:  # a file or a pipe: as wide as the widest table, never squeezed
        wide = console.options.update_width(10_000)
        console.width = max(width, *(console.measure(table, options=wide).maximum for table in tables))
    try:
        for table in tables:
            console.print(table)
    finally:
        console.width = width
    for name, why in report["skipped"].items():
        console.print(f"skipped {name}: {why}", highlight=False, markup=False)


def to_markdown(report: dict[str, Any]) -> str:
    out = []
    tables = _tables(report)
    for title, methods in tables:
        header, rows = table_rows(report, methods)
        if len(tables) > 1:
            out.append(f"{title}\n")
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        out.append("\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]))
    return "\n\n".join(out)
