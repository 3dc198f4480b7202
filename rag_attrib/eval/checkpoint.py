"""Eval's checkpoint: each finished answer kept on disk with the settings it was made with, so that a stopped
run goes on where it stopped, and no answer made otherwise, or corrupted, counts in its report."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..types import finite_json
from . import metrics as M
from .data import EvalCase, EvalDataError
from .run import FORMAT_VERSION, judge_name
from .table import answers_phrase


def run_settings(args: Any, methods: Sequence[str], cases: Sequence[EvalCase], ks: Sequence[int], version: str
                 ) -> dict[str, Any]:
    """What kept answers must have been made with to count in this run's report, as far as the command line
    (``args``, the parsed ``rag-attrib eval`` options) tells; ``model_settings`` adds what the loaded model does.
    ``version``: rag_attrib's."""
    import torch
    import transformers

    return {
        "version": FORMAT_VERSION, "rag_attrib": version, "torch": torch.__version__,
        "transformers": transformers.__version__, "--model": model_asked(args.model),
        "--no-support": args.no_support, "--methods": list(methods), "--k": list(ks), "--seed": args.seed,
        "cases": [[c.source, c.id] for c in cases], "data": hashlib.sha256(repr(list(cases)).encode()).hexdigest(),
        **({"--judge": model_asked(args.judge)} if getattr(args, "judge", None) else {}),
    }


def model_asked(model: str | None) -> str:
    """``--model`` as one name however it is written: the default by name, a local path resolved."""
    from ..model import DEFAULT_MODEL

    if model in (None, "", "default"):
        return DEFAULT_MODEL
    return str(Path(model).resolve()) if Path(model).exists() else model


def model_settings(attributor: Any, names: Sequence[str]) -> dict[str, Any]:
    """What the loaded model and the methods it can run add to ``run_settings``."""
    judge = judge_name(attributor)
    return {"model": attributor.model_name, "target": attributor.target, "min_share": attributor.min_share,
            "support": repr(getattr(attributor, "support", None)), "methods": list(names),
            **({"judge": judge} if judge else {})}


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
                f"the first line of {path} holds no settings of a rag-attrib eval run, so the "
                f"{answers_phrase(whole)} after it cannot be checked; pass --restart to discard them, or another --json "
                "to keep them")
        settings = json.loads(json.dumps(settings))
        differ = [_difference(k, theirs.get(k), v) for k, v in settings.items() if k not in theirs or theirs[k] != v]
        if differ:
            raise EvalDataError(
                f"{path} holds {answers_phrase(whole)} of an earlier run with other settings ({'; '.join(differ)}); "
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
