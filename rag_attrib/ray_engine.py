"""The same ``verify`` over a JSONL file, on Ray Data: an actor pool of loaded models, resumable shards.

    rag-attrib verify INPUT.jsonl --out OUT_DIR --engine ray [--address auto] [--num-workers N]
                      [--num-gpus-per-worker 1] [--batch-size N] [--format jsonl|parquet]

The driver reads INPUT and writes the shards; an actor pool of ``VerifyWorker``s, each holding one loaded model,
runs the local engine's own ``verify_line`` on batches, so records are the same by construction, and the resume,
lock and restart are ``rag_attrib.batch``'s. How it works and why each piece is there: docs/scale.md.

Ray is imported only inside the functions that need it: ``pip install rag-attrib[ray]``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .batch import (
    Output,
    Results,
    check_input_file,
    input_lines,
    locked,
    resume,
    unique_records,
    verify_line,
    writing,
)
from .errors import RayEngineError
from .types import finite_json
from .verdicts import VERDICTS

FORMATS = ("jsonl", "parquet")
WINDOW = 50_000  # records read by the driver and put into the object store at a time
SHARD_PREFIX = "part-"
LOCK_NAME = ".rag_attrib.lock"
RAY_LOG = ".ray.log"  # what Ray itself writes to stderr goes here, unless verbose
INSTALL_HINT = "the ray engine needs Ray Data: pip install 'rag-attrib[ray]' (or pip install 'ray[data]')"


# ----------------------------------------------------------------------------------------- the workers


class VerifyWorker:
    """One Ray actor: loads the model once (``__init__``) and verifies batches of ``(line, text)`` rows.

    ``model`` is what ``Attributor.load`` takes (None: the default model; a folder, a .gguf, a hub id
    in the local cache), or a zero-argument callable returning an attributor (anything with
    ``attribute`` and ``attribute_prompt``), called once per actor: a custom ``Attributor`` (its own
    ``min_share``, ``target``, a model built in code), or the fakes the tests inject faults with.
    """

    def __init__(
        self, model: Any = None, load_kwargs: dict[str, Any] | None = None, token_relevance: bool = False,
        num_threads: int | None = None, device: str | None = None, source: str | None = None,
    ) -> None:
        if callable(model):
            self.attributor = model()
        else:
            import torch

            from .attribute import Attributor

            if num_threads:
                torch.set_num_threads(num_threads)
            kwargs = dict(load_kwargs or {})
            if device is not None:
                kwargs.setdefault("device", device)
            if kwargs.get("memory") == "low":  # this process is the actor's own, as the CLI's is under --memory low
                from .lrp.relevance import return_freed_memory_at_once

                return_freed_memory_at_once()
            self.attributor = Attributor.load(model, **kwargs)
        self.token_relevance, self.source = token_relevance, source
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        start = time.time()
        lines, oks, records = [], [], []
        for number, text in zip(batch["line"], batch["text"]):
            # a line that is not UTF-8 travels as bytes (batch.input_lines): keep it so, as the local engine does
            line = bytes(text) if isinstance(text, bytes) else str(text)
            record = verify_line(self.attributor, line, int(number), self.token_relevance, self.source)
            lines.append(int(number))
            oks.append(bool(record["ok"]))
            records.append(finite_json(record, f"the record of line {number}", ensure_ascii=False))
        n, end, rss = len(lines), time.time(), _peak_rss()
        return {"line": lines, "ok": oks, "record": records, "worker": [self.name] * n, "rss": [rss] * n,
                "start": [start] * n, "end": [end] * n}


def _peak_rss() -> int:
    """Peak resident memory of this process, in bytes."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ----------------------------------------------------------------------------------------- shards


def shard_paths(out_dir: str | os.PathLike) -> list[Path]:
    """The finished shards of OUT_DIR, by name (hidden temporaries and quarantined files left out)."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir()
                  if p.name.startswith(SHARD_PREFIX) and p.suffix in (".jsonl", ".parquet") and p.is_file())


def _read_shard(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [json.loads(r) for r in pq.read_table(path, columns=["record"]).column("record").to_pylist()]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        raise ValueError("the last line is cut off")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _shard_records(out_dir: str | os.PathLike, quarantine: bool) -> Iterator[dict[str, Any]]:
    for path in shard_paths(out_dir):
        try:
            records = _read_shard(path)
            for r in records:
                int(r["line"])
        except Exception as err:  # noqa: BLE001  a shard we did not write whole: none of it counts
            if quarantine:
                bad = path.with_name(path.name + ".corrupt")
                path.replace(bad)
                warnings.warn(f"{path} is unreadable ({err}); moved to {bad.name}, its records are done again",
                              stacklevel=3)
            else:
                warnings.warn(f"{path} is unreadable ({err}); its records are left out", stacklevel=3)
            continue
        yield from records


def read_output_dir(out_dir: str | os.PathLike) -> Output:
    """The records already in OUT_DIR's shards. Leftover temporaries of a killed run are removed and an
    unreadable shard is renamed ``*.corrupt`` (its lines are done again), so nothing is counted twice."""
    out, output = Path(out_dir), Output()
    if not out.is_dir():
        return output
    for tmp in out.glob(f".{SHARD_PREFIX}*.tmp"):
        tmp.unlink(missing_ok=True)
    for record in _shard_records(out, quarantine=True):
        output.add(record)
    return output


def read_results_dir(out_dir: str | os.PathLike) -> Results:
    """Every output record in OUT_DIR's shards (JSONL or Parquet), in input order, one per line number
    (``.duplicates``: how many were dropped)."""
    return unique_records(_shard_records(out_dir, quarantine=False))


def _remove_records(out_dir: Path, lines: set[int] | None) -> int:
    """Rewrite each shard holding records of ``lines`` without them (atomically; an emptied shard is deleted),
    or delete every shard (``lines=None``). Returns how many records went."""
    removed = 0
    for path in shard_paths(out_dir):
        records = _read_shard(path)
        keep = [] if lines is None else [r for r in records if int(r["line"]) not in lines]
        if len(keep) == len(records):
            continue
        removed += len(records) - len(keep)
        if keep:
            texts = [finite_json(r, f"the kept record of line {r['line']}", ensure_ascii=False) for r in keep]
            write_shard(out_dir, path.stem, keep, texts, path.suffix[1:])
        else:
            path.unlink()
    return removed


def _parquet_table(records: list[dict[str, Any]], texts: list[str]) -> Any:
    """A fixed schema for every shard: a few flat columns to query, plus the whole record as JSON."""
    import pyarrow as pa

    schema = pa.schema([
        ("line", pa.int64()), ("id", pa.string()), ("ok", pa.bool_()), ("error", pa.string()),
        ("error_type", pa.string()), ("sentences", pa.int64()), *((v, pa.int64()) for v in VERDICTS),
        ("record", pa.string()),
    ])
    rows = []
    for r, text in zip(records, texts):
        rid = r.get("id")
        verdicts = (r.get("summary") or {}).get("verdicts") or {}
        rows.append({
            "line": r["line"], "id": rid if isinstance(rid, str) or rid is None else json.dumps(rid),
            "ok": r["ok"], "error": r.get("error"), "error_type": r.get("error_type"),
            "sentences": (r.get("summary") or {}).get("sentences"),
            **{v: verdicts.get(v) for v in VERDICTS},
            "record": text,
        })
    return pa.Table.from_pylist(rows, schema=schema)


def write_shard(out_dir: Path, name: str, records: list[dict[str, Any]], texts: list[str], fmt: str) -> Path:
    """Write one shard atomically: a hidden temporary, fsync, rename. A kill leaves it whole or absent."""
    final = out_dir / f"{name}.{fmt}"
    tmp = out_dir / f".{name}.{fmt}.tmp"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(_parquet_table(records, texts), tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in texts))
            f.flush()
            os.fsync(f.fileno())
    tmp.replace(final)
    try:  # make the rename itself durable
        fd = os.open(out_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return final


# ----------------------------------------------------------------------------------------- the run


@contextmanager
def _quiet(log: Path | None) -> Iterator[Any]:
    """Send what Ray writes to this process's stderr (its log lines, warnings, progress, the C++ core's
    messages, the workers' output) to the file ``log`` instead of the terminal; None: leave it (verbose).
    Yields a stream to the terminal, for our own progress bar."""
    if log is None:
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 2)
    try:
        with os.fdopen(os.dup(saved), "w") as terminal:
            yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise RayEngineError(f"{INSTALL_HINT} ({err})") from None
    return ray


def _dataset(ray: Any, todo: Iterator[tuple[int, str]], batch_size: int, num_workers: int) -> Any:
    """(line, text) rows in the object store, a window at a time; blocks of whole batches, at least four
    per worker where there are enough records, at most 16 batches each."""
    parts, window = [], []

    def flush() -> None:
        n = len(window)
        batches = math.ceil(n / batch_size)
        blocks = max(math.ceil(batches / 16), min(batches, 4 * num_workers))
        try:
            parts.append(ray.data.from_items(window, override_num_blocks=blocks))
        except TypeError:  # Ray before 2.10 called it parallelism
            parts.append(ray.data.from_items(window, parallelism=blocks))
        window.clear()

    for number, text in todo:
        window.append({"line": number, "text": text})
        if len(window) >= WINDOW:
            flush()
    if window:
        flush()
    if not parts:
        return None
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class RayOptions:
    """How ``run_ray`` runs; each field also a keyword of ``run_ray``.

    ``model``: as ``Attributor.load`` takes it, or a zero-argument callable returning an attributor (called once
    per actor; it is pickled to the workers, and places its model itself). ``load_kwargs`` go to
    ``Attributor.load`` (``dtype``, ``min_share``, ...); with ``num_gpus_per_worker > 0`` the model goes to
    ``"cuda"`` (the GPU Ray assigned the actor) unless they say otherwise. Each actor reserves
    ``num_cpus_per_worker`` CPUs and uses as many torch threads. ``batch_size``: records per batch; ``fmt``: the
    shards' format, ``"jsonl"`` or ``"parquet"``; ``token_relevance``: keep each token's relevance in the
    records (for the HTML report).

    Ray is started locally unless it runs already or ``address`` names a cluster (``"auto"``,
    ``"ray://head:10001"``), with ``init_kwargs`` to ``ray.init``; a cluster started here is shut down at the end.
    A dead actor is restarted and its batch retried at most ``max_task_retries`` times.

    ``restart``, ``retry_errors``: as ``run_local`` (rag_attrib.batch: what a run guarantees). Ray's own warnings
    and log lines go to ``OUT_DIR/.ray.log``, not the terminal, unless ``verbose``; ``progress``: a progress bar
    of records on stderr.
    """

    model: str | os.PathLike | Callable[[], Any] | None = None
    load_kwargs: dict[str, Any] | None = None
    num_workers: int = 1
    num_cpus_per_worker: float = 1
    num_gpus_per_worker: float = 0
    batch_size: int = 4
    fmt: str = "jsonl"
    address: str | None = None
    token_relevance: bool = False
    max_task_retries: int = 2
    init_kwargs: dict[str, Any] | None = None
    restart: bool = False
    retry_errors: bool = False
    verbose: bool = False
    progress: bool = True


def run_ray(input_path: str | os.PathLike, out_dir: str | os.PathLike, options: RayOptions | None = None,
            **changes: Any) -> dict[str, Any]:
    """Verify every record of ``input_path`` not yet in ``out_dir`` on Ray; the local engine's records.

    ``options`` (``RayOptions``), or its fields as keywords (``changes``, which override ``options``'). No more
    workers start than there are records to do, and batches are at most ``ceil(records / workers)``, so that
    each worker gets one.

    Returns ``{"skipped", "ok", "errors", "discarded", "retried"}`` (as ``run_local``) plus ``"seconds"``
    (the Ray part, workers' start included), ``"busy_seconds"`` (first batch start to last batch end over
    all workers), ``"num_workers"`` (started) and ``"workers"``: ``{worker: {"records", "peak_rss"}}``
    (those that verified records).
    """
    from tqdm import tqdm

    opt = dataclasses.replace(options or RayOptions(), **changes)

    check_input_file(input_path)
    if opt.fmt not in FORMATS:
        raise RayEngineError(f"format must be one of {FORMATS}, got {opt.fmt!r}")
    for name, value in (("num_workers", opt.num_workers), ("batch_size", opt.batch_size)):
        if value < 1:
            raise RayEngineError(f"{name} (--{name.replace('_', '-')}) must be at least 1, got {value}")
    if opt.num_gpus_per_worker < 0 or opt.num_cpus_per_worker <= 0:
        raise RayEngineError("num_gpus_per_worker must be >= 0 and num_cpus_per_worker > 0")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RayEngineError(f"--out {str(out)!r} is a file; the ray engine writes shards into a directory")
    counts: dict[str, Any] = {"skipped": 0, "ok": 0, "errors": 0, "discarded": 0, "retried": 0, "seconds": 0.0,
                              "busy_seconds": 0.0, "num_workers": 0, "workers": {}}
    with writing(out, counts):
        out.mkdir(parents=True, exist_ok=True)
    with locked(out / LOCK_NAME, out):
        done = resume(read_output_dir(out), input_path, out, counts, restart=opt.restart, retry_errors=opt.retry_errors,
                      remove=functools.partial(_remove_records, out))
        pending = sum(1 for n, _ in input_lines(input_path) if n not in done)
        if not pending:
            return counts
        num_workers, batch_size = _share(pending, opt.num_workers, opt.batch_size)
        counts["num_workers"] = num_workers
        todo = ((n, line) for n, line in input_lines(input_path) if n not in done)
        with _quiet(None if opt.verbose else out / RAY_LOG) as terminal, tqdm(
            total=pending, unit="record", disable=not opt.progress, desc="verifying", dynamic_ncols=True, file=terminal
        ) as bar:
            ray = _import_ray()
            started = not ray.is_initialized()
            if started:
                ray.init(address=opt.address, **(opt.init_kwargs or {}))
            t0 = time.perf_counter()
            try:
                ds = _dataset(ray, todo, batch_size, num_workers)
                model = opt.model
                if isinstance(model, (str, os.PathLike)) and os.path.exists(model):
                    model = os.path.abspath(model)  # the workers do not run in this directory
                worker_kwargs = {
                    "model": model, "load_kwargs": opt.load_kwargs, "token_relevance": opt.token_relevance,
                    "num_threads": max(1, int(opt.num_cpus_per_worker)),
                    "device": "cuda" if opt.num_gpus_per_worker > 0 else None, "source": os.path.abspath(input_path),
                }
                results = _map(ray, ds, worker_kwargs, batch_size, num_workers, opt.num_cpus_per_worker,
                               opt.num_gpus_per_worker, opt.max_task_retries)
                run = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
                first_start, last_end = math.inf, 0.0
                blocks = results.iter_batches(batch_size=None, batch_format="pyarrow")  # as they finish
                for seq, block in enumerate(_guarded(blocks, counts)):
                    cols = block.to_pydict()
                    texts = cols["record"]
                    records = [json.loads(t) for t in texts]
                    with writing(out, counts):
                        write_shard(out, f"{SHARD_PREFIX}{run}-{seq:06d}", records, texts, opt.fmt)
                    counts["ok"] += sum(cols["ok"])
                    counts["errors"] += len(texts) - sum(cols["ok"])
                    for worker, rss in zip(cols["worker"], cols["rss"]):
                        w = counts["workers"].setdefault(worker, {"records": 0, "peak_rss": 0})
                        w["records"] += 1
                        w["peak_rss"] = max(w["peak_rss"], rss)
                    first_start, last_end = min(first_start, *cols["start"]), max(last_end, *cols["end"])
                    bar.update(len(texts))
                    bar.set_postfix(errors=counts["errors"])
                counts["busy_seconds"] = max(0.0, last_end - first_start) if last_end else 0.0
            finally:
                counts["seconds"] = time.perf_counter() - t0
                if started:
                    ray.shutdown()
    return counts


def _share(pending: int, num_workers: int, batch_size: int) -> tuple[int, int]:
    """Workers to start and the batch size, so that every worker started gets a batch: no more workers
    than records, no batch larger than ``ceil(records / workers)``."""
    workers = min(num_workers, pending)
    return workers, min(batch_size, math.ceil(pending / workers))


def _map(ray: Any, ds: Any, worker_kwargs: dict[str, Any], batch_size: int, num_workers: int, num_cpus: float,
         num_gpus: float, max_task_retries: int) -> Any:
    """The actor-pool ``map_batches``. A dead actor is restarted and its batch retried ``max_task_retries``
    times (Ray Data's default is forever: one record that kills its worker would loop). Each actor holds
    one batch at a time, so that an actor that loads its model late still finds batches left."""
    try:  # one batch at a time per actor: the first actor ready does not queue up the batches of the others
        pool = ray.data.ActorPoolStrategy(size=num_workers, max_tasks_in_flight_per_actor=1)
    except TypeError:  # a Ray without the option
        pool = ray.data.ActorPoolStrategy(size=num_workers)
    common = {"fn_constructor_kwargs": worker_kwargs, "batch_size": batch_size, "batch_format": "numpy",
              "compute": pool, "num_cpus": num_cpus,
              "num_gpus": num_gpus or None}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")  # no named form yet (2.60)
        try:
            return ds.map_batches(VerifyWorker, **common, max_restarts=-1, max_task_retries=max_task_retries)
        except TypeError:  # a Ray that no longer takes extra remote args: its own retry policy
            return ds.map_batches(VerifyWorker, **common)


def _stopped(counts: dict[str, Any], err: BaseException) -> RayEngineError:
    written = counts["ok"] + counts["errors"]
    cause = getattr(err, "cause", None) or err  # a RayTaskError carries the worker's own exception
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip().splitlines()
    return RayEngineError(
        f"the ray run stopped after writing {written} records this time ({type(cause).__name__}"
        f"{': ' + text[0] if text else ''}); the records written are kept: run the same command again to do "
        "the rest"
    )


def _guarded(blocks: Any, counts: dict[str, Any]) -> Iterator[Any]:
    """The result blocks; a failure of the run (a worker's task failed for good) says what was kept."""
    iterator = iter(blocks)
    while True:
        try:
            block = next(iterator)
        except StopIteration:
            return
        except Exception as err:
            raise _stopped(counts, err) from err
        yield block
