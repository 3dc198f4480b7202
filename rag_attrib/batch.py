"""Verify a JSONL file of answers, one record per line: streaming, resumable, nothing lost or duplicated.

Input record: ``{"id"?, "question", "chunks", "answer", "prompt"?}`` (chunks as ``attribute`` takes
them). Output: one line per input line, ``{"line", "id", "input", "input_sha1", "ok": true, "verdicts",
"summary", "attribution"}``, or ``{"line", "id", "input", "input_sha1", "ok": false, "error", "error_type",
"error_kind"}`` for a record that could not be verified. ``error`` starts with ``line N:``. ``error_kind``
is ``"input"`` when the record cannot be verified as written (an ``InvalidInputError``; final) and ``"run"``
for any other failure (out of memory, a worker lost, a bug): ``retry_errors`` (``--retry-errors``) does those
again.

What a run guarantees, in both engines (``ray_engine`` uses the functions here: ``locked``, ``resume``,
``verify_line``), is in docs/verification.md, *What the runner guarantees*: nothing lost or done twice, only its
own output written and only its own input resumed, one run per output file, no record that stops the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, OutputError, RecordError
from .types import AttributorLike, check_read_finite, finite_json, non_finite_at
from .verification import verify

RECORD_START = b'{"line": '  # how every output record begins (verify_line's key order)


# ----------------------------------------------------------------------------------------- one record


def read_json(line: str | bytes, number: int) -> Any:
    """The JSON value on input line ``number``; a line no parser reads is a ``RecordError`` naming why."""
    if isinstance(line, bytes):
        raise RecordError(f"line {number}: not valid UTF-8; re-encode the file as UTF-8")
    try:
        value = json.loads(line)
        check_read_finite(value, f"line {number}: the record", RecordError)
    except json.JSONDecodeError as err:
        raise RecordError(f"line {number}: not valid JSON ({err.msg} at column {err.colno})") from None
    except RecursionError:
        raise RecordError(f"line {number}: nested too deeply to read (brackets inside brackets beyond Python's "
                          "limit); a record is one object of a question, chunks and an answer") from None
    return value


def check_record(record: Any, number: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"line {number}: a record must be a JSON object, got {_json_type(record)}")
    unwritable = [_escaped(key) for key, value in record.items() if _lone_surrogate({key: value})]
    if unwritable:
        raise RecordError(
            f"line {number}: {', '.join(unwritable)} hold{'s' if len(unwritable) == 1 else ''} a lone surrogate "
            f"escape ({_escaped(_lone_surrogate(record) or '')}), half of a UTF-16 pair and no character; write the "
            "character itself, or both halves of its escape")
    missing = [k for k in ("chunks", "answer") if k not in record]
    if "question" not in record and "prompt" not in record:
        missing.append("question (or prompt)")
    if missing:
        raise RecordError(f"line {number}: missing {', '.join(missing)} (the record has: "
                          f"{', '.join(map(str, record)) or 'no key'})")
    wrong = [] if isinstance(record["chunks"], list) else [
        f"chunks must be a list (of strings or {{\"id\", \"text\"}} objects), got {_shown(record['chunks'])}"
        + ("; one chunk is written [\"its text\"]" if isinstance(record["chunks"], str) else "")]
    wrong += [f"{key} must be a string, got {_shown(record[key])}" for key in ("answer", "question", "prompt")
              if key in record and not isinstance(record[key], str) and (key == "answer" or record[key] is not None)]
    if wrong:
        raise RecordError(f"line {number}: {'; '.join(wrong)}")
    return record


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in ``value`` (a ``\\ud800`` escape in its JSON: half of a UTF-16 pair), which no
    UTF-8 output can hold; None where there is none."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return text[err.start]
    return None


def _escaped(text: str) -> str:
    """``text`` with each lone surrogate written as its escape, so that a message can hold it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def line_sha1(line: str | bytes) -> str:
    """The fingerprint of one input line: SHA-1 of its bytes, line end excluded."""
    raw = line if isinstance(line, bytes) else line.encode("utf-8")
    return hashlib.sha1(raw.rstrip(b"\r\n")).hexdigest()


def verify_line(
    attributor: AttributorLike, line: str | bytes, number: int, token_relevance: bool = False, source: str | None = None,
) -> dict[str, Any]:
    """The output record of input line ``number`` of the file ``source``; never raises for a bad record (it
    becomes an error record)."""
    head = {"line": number, "id": None, "input": source, "input_sha1": line_sha1(line)}
    try:
        value = read_json(line, number)
        head["id"] = _id_of(value)
        record = check_record(value, number)
        verification = verify(attributor, record.get("question"), record["chunks"], record["answer"],
                              prompt=record.get("prompt"))
        return {**head, "ok": True, **verification.to_dict(token_relevance)}
    except Exception as err:  # noqa: BLE001  one bad record must not stop the run; it is recorded
        message = _escaped(str(err) or type(err).__name__)
        if not message.startswith(f"line {number}:"):
            message = f"line {number}: {message}"
        return {**head, "ok": False, "error": message, "error_type": type(err).__name__,
                "error_kind": "input" if isinstance(err, InvalidInputError) else "run"}


def _id_of(record: Any) -> Any:
    """The record's ``id``; None where it has none, or one that no output can hold (a lone surrogate, a NaN)."""
    rid = record.get("id") if isinstance(record, dict) else None
    return None if _lone_surrogate(rid) or non_finite_at(rid) is not None else rid


def input_lines(path: str | os.PathLike) -> Iterator[tuple[int, str | bytes]]:
    """(1-based line number, text) of every non-blank line; a line that is not UTF-8 comes as its raw
    bytes, so that it becomes an error record instead of stopping the run."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:  # a byte order mark (Windows editors write one) is not part of the first record
                line: str | bytes = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                line = raw
            if line.strip():
                yield number, line


def check_input_file(path: str | os.PathLike) -> None:
    """Refuse, before anything runs, an input that is no JSONL file: missing, a folder, or a file that is one
    JSON array or object (pretty-printed over several lines, or an array on its only line), which would otherwise
    become one error record per line. A line of JSONL that is an array is one bad record, as any other."""
    source = Path(path)
    if source.is_dir():
        raise RecordError(f"input {str(path)!r} is a directory; pass a JSONL file, one record per line")
    if not source.is_file():
        raise RecordError(f"input file {str(path)!r} does not exist; pass a JSONL file, one record per line")
    lines = input_lines(source)
    first = next(lines, None)
    if first is None:
        return  # nothing to verify is not an error (a pipeline's quiet day); the CLI says so
    try:
        whole = json.loads(first[1])
        if not isinstance(whole, list) or next(lines, None) is not None:
            return
    except RecursionError:
        return  # a line nested too deeply: its error record says so, and the others run
    except ValueError:
        if not str(first[1]).lstrip().startswith(("[", "{")):
            return  # a broken line: it becomes an error record, and the others run
        try:
            whole = json.loads(source.read_text(encoding="utf-8-sig"))
        except (ValueError, RecursionError):
            return
    fix = "write each record on one line"
    if isinstance(whole, list):
        what = f"a JSON array of {len(whole)} record{'s' if len(whole) != 1 else ''}"
        fix += """, e.g. `python -c "import json,sys; [print(json.dumps(r)) for r in json.load(open(sys.argv[1]))]" IN > IN.jsonl`"""
    else:
        what = "one JSON value spread over several lines"
    raise RecordError(f"input file {str(path)!r} holds {what}, not JSONL: {fix}")


# ----------------------------------------------------------------------------------------- an output


def _prefer(old_ok: bool, new_ok: bool) -> bool:
    """Whether a second record for the same line replaces the first: only an ok one replacing an error."""
    return new_ok and not old_ok


@dataclass(frozen=True)
class Done:
    """What a rerun needs to know of one output record."""

    sha1: str | None
    ok: bool
    kind: str | None
    source: str | None  # the input it was made from


@dataclass
class Output:
    """The records already in an output, one per line number."""

    done: dict[int, Done] = field(default_factory=dict)
    duplicates: int = 0

    def add(self, record: dict[str, Any]) -> None:
        line = int(record["line"])
        new = Done(record.get("input_sha1"), bool(record["ok"]), record.get("error_kind"), record.get("input"))
        if line in self.done:
            self.duplicates += 1
            if not _prefer(self.done[line].ok, new.ok):
                return
        self.done[line] = new

    def retryable(self) -> set[int]:
        """Lines whose record failed for a reason of the run, not of the input."""
        return {n for n, d in self.done.items() if not d.ok and d.kind == "run"}

    def check_input(self, input_path: str | os.PathLike, out: str | os.PathLike) -> set[int]:
        """Refuse to resume unless every line verified is the same line of ``input_path`` now (line end
        aside). Returns the lines of error records whose input line changed (a record fixed): to redo."""
        if not self.done:
            return set()
        if any(d.sha1 is None for d in self.done.values()):
            raise OutputError(f"{out} was written by an older rag-attrib that did not record its input; pass "
                              f"--restart to discard its records and redo it from {input_path}, or choose another "
                              "--out")
        now = {n: line_sha1(text) for n, text in input_lines(input_path) if n in self.done}
        changed = {n for n, d in self.done.items() if now.get(n) != d.sha1}
        conflicts = sorted(n for n in changed if self.done[n].ok)
        if not conflicts:
            return changed
        made_from, given = self.done[conflicts[0]].source, os.path.abspath(input_path)
        if made_from == given or made_from and os.path.exists(made_from) and os.path.samefile(made_from, given):
            what = f"{input_path} changed since its results in {out} were written"
        else:
            what = f"{out} holds the results of {made_from or 'another input'}, not of {given}"
        raise OutputError(
            f"{what} ({len(conflicts)} of the {sum(d.ok for d in self.done.values())} lines verified differ, the "
            f"first is line {conflicts[0]}); "
            f"pass the input it was made from to resume, or --restart to discard its records and start over "
            f"from {input_path}, or choose another --out"
        )


def resume(output: Output, input_path: str | os.PathLike, out: str | os.PathLike, counts: dict[str, Any], *,
           restart: bool, retry_errors: bool, remove: Callable[[set[int] | None], int]) -> set[int]:
    """The lines a rerun skips: those of ``output`` (the records already in ``out``) that stand. ``restart``
    removes every record first (``remove(None)`` returns how many went); the error records whose input line
    changed, and with ``retry_errors`` those that failed for a reason of the run, are removed (``remove(lines)``)
    to be done again. Sets ``counts``' "discarded", "retried" and "skipped"."""
    if restart:
        with writing(out, counts):
            counts["discarded"] = remove(None)
        output = Output()
    retry = output.check_input(input_path, out) | (output.retryable() if retry_errors else set())
    if retry:
        with writing(out, counts):
            remove(retry)
    counts["retried"], done = len(retry), output.done.keys() - retry
    counts["skipped"] = len(done)
    return done


@contextmanager
def locked(lock_path: Path, out: str | os.PathLike, flag: str = "--out") -> Iterator[None]:
    """Hold an exclusive lock for one run writing ``out``; a second run fails at once, naming the first.

    The lock file is removed when the run ends (while still locked). A run that opened it just before then
    finds, once it holds the lock, that the path no longer names its file, and starts again on a new one.
    """
    cannot = f"cannot write next to {out} (lock file {lock_path})"
    while True:
        try:
            lock = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115  closed below
        except OSError as err:
            raise OutputError(f"{cannot}: {err.strerror or err}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise OutputError(f"another run ({holder}) is writing to {out}; wait for it to finish, or choose "
                              f"another {flag}") from None
        if _same_file(lock, lock_path):
            break
        lock.close()  # removed by the run that just ended: lock the new one
    with lock:
        try:
            try:  # who holds it, for the message of a second run
                lock.truncate(0)
                lock.write(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
                lock.flush()
            except OSError as err:  # a full disk
                raise OutputError(f"{cannot}: {err.strerror or err}") from None
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def locked_file(out: Path) -> Iterator[None]:
    """One run per output file, however it is spelled: the lock file is named after the file ``out`` resolves
    to (a symlink, a linked folder, a relative path meet it), and the file itself is locked as well (another
    hard link to it meets that lock). Creates ``out`` if it is not there."""
    real = out.resolve()
    with locked(real.with_name(f".{real.name}.lock"), out):
        try:
            handle = open(real, "ab")  # noqa: SIM115  closed below
        except OSError as err:
            raise OutputError(f"cannot write {out}: {err.strerror or err}") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(f"another run is writing to {out} under another name of the same file (a hard "
                                  "link); wait for it to finish, or choose another --out") from None
            yield


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


class Results(list):
    """Output records in input order, one per line number; ``duplicates``: how many more were dropped."""

    duplicates = 0


def unique_records(records: Iterable[dict[str, Any]]) -> Results:
    """One record per line number (an ok record over an error record, else the first), in input order."""
    by_line: dict[int, dict[str, Any]] = {}
    dropped = 0
    for record in records:
        line = int(record["line"])
        if line in by_line:
            dropped += 1
            if not _prefer(by_line[line]["ok"], record["ok"]):
                continue
        by_line[line] = record
    results = Results(by_line[k] for k in sorted(by_line))
    results.duplicates = dropped
    return results


# ----------------------------------------------------------------------------------------- the local engine


def _result(raw: bytes) -> dict[str, Any] | None:
    """The output record on one line, or None if the line is not one of ours."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    ours = isinstance(record, dict) and type(record.get("line")) is int and isinstance(record.get("ok"), bool)
    return record if ours else None


def check_out_file(input_path: str | os.PathLike, out: Path) -> None:
    """Refuse an output path the local engine must not write: a folder, a device, the input itself."""
    if out.is_dir():
        raise OutputError(f"--out {out} is a directory; the local engine writes one JSONL file (--engine ray writes "
                          "shards into a directory)")
    if out.exists():
        if not out.is_file():
            raise OutputError(f"--out {out} is not a regular file; pass the path of a JSONL file")
        if os.path.samefile(input_path, out):
            raise OutputError(f"--out {out} is the input file itself; writing results there would destroy the "
                              "input: choose another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder of --out {out}: {err.strerror or err}") from None


def read_output(out: Path) -> Output:
    """The records already in the JSONL file ``out``. A file with a line that is not one of our records is
    refused; a last record cut off before its newline is removed, so it is done again."""
    output, good = Output(), 0
    if not out.exists():
        return output
    with open(out, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n") and _torn(raw):
                break  # ours, cut off mid-write: done again
            record = _result(raw) if raw.strip() else {}
            if record is None:
                raise OutputError(f"--out {out} is not a results file of rag-attrib verify (its line {number} is "
                                  "not a result record); it is left as it is: choose another --out, or move that "
                                  "file away")
            if record:
                output.add(record)
            good += len(raw)
    if good < out.stat().st_size:
        with open(out, "r+b") as f:
            f.truncate(good)
    return output


def _torn(last: bytes) -> bool:
    """Whether a last line without its newline is one of our records cut off by a crash: the start of a record
    (also shorter than ``{"line": ``), or zeros where its bytes were to be (a file system's padding after a
    crash), alone or after a cut-off record."""
    written = last.rstrip(b"\0")
    return written.startswith(RECORD_START) or RECORD_START.startswith(written)


def _rewrite_without(out: Path, lines: set[int]) -> None:
    """Rewrite ``out`` without the records of ``lines``, atomically: a temporary, fsync, rename. Through a
    link, the file it names is replaced, and keeps its permissions."""
    real = out.resolve()
    tmp = real.with_name(f".{real.name}.tmp")
    with open(real, "rb") as src, open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as dst:
        os.fchmod(dst.fileno(), stat.S_IMODE(os.fstat(src.fileno()).st_mode))
        dst.writelines(raw for raw in src if raw.strip() and json.loads(raw)["line"] not in lines)
        dst.flush()
        os.fsync(dst.fileno())
    tmp.replace(real)


@contextmanager
def writing(out: Path, counts: dict[str, int]) -> Iterator[None]:
    """An OSError while writing ``out`` (disk full, permissions) becomes one line that says what is kept."""
    try:
        yield
    except OSError as err:
        raise OutputError(f"cannot write {out}: {err.strerror or err}; the {counts['ok'] + counts['errors']} "
                          "records written this time are kept: fix that and rerun to do the rest") from None


@contextmanager
def appending(out: Path, counts: dict[str, int]) -> Iterator[Any]:
    """``out`` open to append records; an OSError opening or closing it (a full disk) is one line, as ``writing``."""
    with writing(out, counts):
        sink = open(out, "a", encoding="utf-8")  # noqa: SIM115  closed below
    try:
        yield sink
    finally:
        with writing(out, counts):
            sink.close()


def run_local(
    attributor: AttributorLike | Callable[[], AttributorLike], input_path: str | os.PathLike,
    out_path: str | os.PathLike, *,
    token_relevance: bool = False, progress: bool = True, restart: bool = False, retry_errors: bool = False,
) -> dict[str, int]:
    """Verify every record of ``input_path`` not yet in ``out_path``, appending results as they finish.

    ``attributor``: an attributor, or a zero-argument function returning one, called only once the output
    is checked and locked (so that a refused output fails before a model loads). ``restart``: empty our
    own output first; ``retry_errors``: redo the records that failed for a reason of the run. Returns
    ``{"skipped", "ok", "errors", "discarded" (records dropped by restart), "retried" (error records done
    again: retry_errors, or their input line changed)}``.
    """
    from tqdm import tqdm

    out = Path(out_path)
    check_input_file(input_path)
    check_out_file(input_path, out)
    counts = {"skipped": 0, "ok": 0, "errors": 0, "discarded": 0, "retried": 0}
    with locked_file(out):
        with writing(out, counts):
            output = read_output(out)

        def remove(lines: set[int] | None) -> int:
            if lines is None:  # restart: the file emptied in place
                out.write_bytes(b"")
                return len(output.done) + output.duplicates
            _rewrite_without(out, lines)
            return len(lines)

        done = resume(output, input_path, out, counts, restart=restart, retry_errors=retry_errors, remove=remove)
        todo = [(n, line) for n, line in input_lines(input_path) if n not in done]
        source = os.path.abspath(input_path)
        with appending(out, counts) as sink, tqdm(total=len(todo), unit="record", disable=not progress,
                                                  desc="verifying", dynamic_ncols=True) as bar:
            if todo and callable(attributor):  # nothing to do: no model to load
                attributor = attributor()
            for number, line in todo:
                record = verify_line(attributor, line, number, token_relevance, source)
                with writing(out, counts):
                    sink.write(finite_json(record, f"the record of line {number}", ensure_ascii=False) + "\n")
                    sink.flush()
                    os.fsync(sink.fileno())  # a finished record survives a crash of the next one
                counts["ok" if record["ok"] else "errors"] += 1
                bar.update(1)
                bar.set_postfix(errors=counts["errors"])
    return counts


def read_results(out_path: str | os.PathLike) -> Results:
    """The output records, in input order, one per line number (``.duplicates``: how many were dropped)."""
    with open(out_path, encoding="utf-8") as f:
        return unique_records(json.loads(line) for line in f if line.strip())
