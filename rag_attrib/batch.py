"""Verify a JSONL file of answers, one record per line: streaming, resumable, nothing lost or duplicated.

Input record: ``{"id"?, "question", "chunks", "answer", "prompt"?}`` (chunks as ``attribute`` takes
them). Output: one line per input line, ``{"line", "id", "ok": true, "verdicts", "summary",
"attribution"}``, or ``{"line", "id", "ok": false, "error", "error_type"}`` for a record that could not
be verified. A rerun with the same output file skips the lines already written; a line cut off by an
interruption is dropped and done again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import RecordError
from .verify import verify


def parse_record(line: str | bytes, number: int) -> dict[str, Any]:
    if isinstance(line, bytes):
        raise RecordError(f"line {number}: not valid UTF-8; re-encode the file as UTF-8")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise RecordError(f"line {number}: not valid JSON ({err.msg} at column {err.colno})") from None
    return check_record(record, number)


def check_record(record: Any, number: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"line {number}: a record must be a JSON object, got {type(record).__name__}")
    missing = [k for k in ("chunks", "answer") if k not in record]
    if "question" not in record and "prompt" not in record:
        missing.append("question (or prompt)")
    if missing:
        raise RecordError(f"line {number}: missing {', '.join(missing)}")
    return record


def verify_line(attributor: Any, line: str | bytes, number: int, token_relevance: bool = False) -> dict[str, Any]:
    """The output record of one input line; never raises for a bad record (it becomes an error record)."""
    head = {"line": number, "id": _id_of(line)}
    try:
        record = parse_record(line, number)
        verification = verify(attributor, record.get("question"), record["chunks"], record["answer"],
                              prompt=record.get("prompt"))
        return {**head, "ok": True, **verification.to_dict(token_relevance)}
    except Exception as err:  # noqa: BLE001  one bad record must not stop the run; it is recorded
        return {**head, "ok": False, "error": str(err), "error_type": type(err).__name__}


def _id_of(line: str | bytes) -> Any:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("id") if isinstance(record, dict) else None


def input_lines(path: str | os.PathLike) -> Iterator[tuple[int, str | bytes]]:
    """(1-based line number, text) of every non-blank line; a line that is not UTF-8 comes as its raw
    bytes, so that it becomes an error record instead of stopping the run."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line: str | bytes = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw
            if line.strip():
                yield number, line


def finished_lines(out: Path) -> set[int]:
    """Line numbers already in ``out``; a last line cut off mid-write is removed so it is done again."""
    if not out.exists():
        return set()
    done, good_bytes = set(), 0
    with open(out, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # cut off mid-write: rewritten
            try:
                done.add(int(json.loads(raw)["line"]))
            except (ValueError, KeyError, TypeError):
                break  # a partial record: everything from here on is rewritten
            good_bytes += len(raw)
    if good_bytes < out.stat().st_size:
        with open(out, "r+b") as f:
            f.truncate(good_bytes)
    return done


def run_local(
    attributor: Any, input_path: str | os.PathLike, out_path: str | os.PathLike, *,
    token_relevance: bool = False, progress: bool = True,
) -> dict[str, int]:
    """Verify every record of ``input_path`` not yet in ``out_path``, appending results as they finish."""
    from tqdm import tqdm

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = finished_lines(out)
    todo = [(n, line) for n, line in input_lines(input_path) if n not in done]
    counts = {"skipped": len(done), "ok": 0, "errors": 0}
    with open(out, "a", encoding="utf-8") as sink, tqdm(
        total=len(todo), unit="record", disable=not progress, desc="verifying", dynamic_ncols=True
    ) as bar:
        for number, line in todo:
            record = verify_line(attributor, line, number, token_relevance)
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            os.fsync(sink.fileno())  # a finished record survives a crash of the next one
            counts["ok" if record["ok"] else "errors"] += 1
            bar.update(1)
            bar.set_postfix(errors=counts["errors"])
    return counts


def read_results(out_path: str | os.PathLike) -> list[dict[str, Any]]:
    """The output records, in input order."""
    with open(out_path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return sorted(records, key=lambda r: r["line"])
