"""``verify --engine ray``: the local engine's records on Ray Data, nothing lost or duplicated.

A local Ray cluster is started inside this module (``ray.init(num_cpus=2)``, nothing external) and shut
down at its end. Most tests run a scripted attributor (``test_verify.ScriptedAttributor``) handed to the
workers as a factory (``RayOptions(model=callable)``, the public way to give each actor its own attributor),
which is also how faults are injected: an attributor that raises a ``BaseException`` (which
``verify_line`` does not turn into an error record, like a kill) or kills its own process. One slow test
runs the embedded model through the CLI and compares it with the local engine.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray engine needs Ray Data: pip install 'rag-attrib[ray]'")
pytest.importorskip("ray.data", reason="the ray engine needs Ray Data: pip install 'rag-attrib[ray]'")

import test_verify
from test_verify import ScriptedAttributor, write_input

from rag_attrib.batch import line_sha1, read_results, run_local
from rag_attrib.errors import OutputError
from rag_attrib.ray_engine import (
    LOCK_NAME,
    RAY_LOG,
    RayEngineError,
    RayOptions,
    _share,
    read_output_dir,
    read_results_dir,
    run_ray,
    shard_paths,
    write_shard,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Data's own, about itself

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = {"Alpha": {"a": 0.6}}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # The workers unpickle the factories below; this module and test_verify are not importable there.
    import ray.cloudpickle

    for module in (test_verify, sys.modules[__name__]):
        ray.cloudpickle.register_pickle_by_value(module)
    if ray.is_initialized():  # a Ray another test (a docs snippet's run_ray) left running: these tests want their own
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
    yield
    ray.shutdown()
    for module in (test_verify, sys.modules[__name__]):
        ray.cloudpickle.unregister_pickle_by_value(module)


def scripted(fail_on: str | None = None) -> ScriptedAttributor:
    return ScriptedAttributor(SCRIPT, fail_on=fail_on)


class Killed(BaseException):
    """Stands for a kill: not an Exception, so verify_line does not turn it into an error record."""


class Recording(ScriptedAttributor):
    """Appends every answer it attributes to a log file (the workers are other processes); on
    ``kill_on`` it sleeps (so the other batches finish and are written first), then raises ``Killed``;
    on ``exit_on`` it ends its own process once (a worker dying), leaving a marker so the retry works."""

    def __init__(self, log: Path, kill_on: str | None = None, exit_on: str | None = None):
        super().__init__(SCRIPT)
        self.log, self.kill_on, self.exit_on = log, kill_on, exit_on

    def _result(self, chunks, answer, spans, question):
        with open(self.log, "a") as f:
            f.write(answer + "\n")
        if self.kill_on and self.kill_on in answer:
            time.sleep(2)
            raise Killed(f"injected kill on {answer!r}")
        marker = self.log.with_suffix(".exited")
        if self.exit_on and self.exit_on in answer and not marker.exists():
            marker.write_text("once")
            os._exit(1)
        return super()._result(chunks, answer, spans, question)


def calls(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


def lines_of(out: Path) -> list[int]:
    return sorted(r["line"] for r in read_results_dir(out))


# --------------------------------------------------------------------------------------- same records


def test_same_records_as_the_local_engine_in_jsonl_and_parquet(tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    write_input(src, n=10, bad_lines=(2, 3))  # line 2 is not JSON, line 3 has no chunks
    local = tmp_path / "local.jsonl"
    local_counts = run_local(scripted(fail_on="number 6"), src, local, progress=False)

    factory = partial(scripted, fail_on="number 6")  # record 6 raises inside its worker
    counts = run_ray(src, tmp_path / "ray", RayOptions(model=factory, num_workers=2, batch_size=3))
    assert {k: counts[k] for k in local_counts} == local_counts
    assert (local_counts["ok"], local_counts["errors"]) == (7, 3)
    expected = read_results(local)
    assert read_results_dir(tmp_path / "ray") == expected  # record by record, in input order
    by_line = {r["line"]: r for r in expected}
    assert by_line[6]["error"] == "line 6: scripted failure on 'number 6'" and by_line[6]["error_kind"] == "run"
    assert by_line[5]["ok"] and by_line[4]["ok"]  # record 6's batch mates (4, 5, 6 with batch 3) are kept
    assert sum(w["records"] for w in counts["workers"].values()) == 10 and counts["seconds"] > 0

    monkeypatch.setattr("rag_attrib.ray_engine.WINDOW", 4)  # the input in 3 windows, joined by union
    pq_counts = run_ray(src, tmp_path / "pq", RayOptions(model=factory, num_workers=2, batch_size=3, fmt="parquet"))
    assert {k: pq_counts[k] for k in ("ok", "errors")} == {"ok": 7, "errors": 3}
    assert read_results_dir(tmp_path / "pq") == expected
    import pyarrow.parquet as pq

    table = pq.read_table(shard_paths(tmp_path / "pq")[0])
    assert table.column_names[:3] == ["line", "id", "ok"] and "supported" in table.column_names

    again = run_ray(src, tmp_path / "ray", RayOptions(model=factory))  # all done: Ray is not even asked
    assert (again["skipped"], again["ok"], again["errors"]) == (10, 0, 0)

    other = tmp_path / "other.jsonl"
    write_input(other, n=3)
    with pytest.raises(OutputError, match=f"{tmp_path / 'ray'} holds the results of {src}, not of {other}"):
        run_ray(other, tmp_path / "ray", RayOptions(model=factory))


def test_retry_errors_and_restart(tmp_path, capfd):
    src, out, local = tmp_path / "in.jsonl", tmp_path / "out", tmp_path / "local.jsonl"
    write_input(src, n=4, bad_lines=(3,))
    run_local(scripted(fail_on="number 2"), src, local, progress=False)
    out.mkdir()  # the local engine's records as one shard: the same records, so ray resumes from them
    records = read_results(local)
    write_shard(out, "part-old-000000", records, [json.dumps(r, ensure_ascii=False) for r in records], "jsonl")

    counts = run_ray(src, out, RayOptions(model=scripted, num_workers=2, retry_errors=True))
    assert (counts["retried"], counts["skipped"], counts["ok"], counts["num_workers"]) == (1, 3, 1, 1)
    got = read_results_dir(out)
    assert [r["ok"] for r in got] == [True, True, False, True] and got.duplicates == 0
    assert got[2]["error_kind"] == "input"

    assert (out / RAY_LOG).exists() and "core_worker" not in capfd.readouterr().err  # Ray's noise went there

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(OutputError, match="--restart"):
        run_ray(empty, out, RayOptions(model=scripted))
    counts = run_ray(empty, out, RayOptions(model=scripted, restart=True))  # nothing to do: Ray is not even asked
    assert (counts["discarded"], counts["skipped"]) == (4, 0) and shard_paths(out) == []


@pytest.mark.parametrize("pending,workers,batch,expected", [(4, 2, 4, (2, 2)), (1, 2, 4, (1, 1)), (5, 2, 4, (2, 3)),
                                                            (100, 2, 4, (2, 4))])
def test_every_worker_started_gets_a_batch(pending, workers, batch, expected):
    assert _share(pending, workers, batch) == expected


# --------------------------------------------------------------------------------------- kills and resume


def test_killed_run_resumes_without_losing_or_duplicating(tmp_path):
    src, out, log = tmp_path / "in.jsonl", tmp_path / "out", tmp_path / "calls.log"
    write_input(src, n=12)
    with pytest.raises(RayEngineError, match="stopped after writing .* run the same command again"):
        run_ray(src, out, RayOptions(model=partial(Recording, log, kill_on="number 12"), num_workers=2,
                                     batch_size=2))
    first = lines_of(out)  # how many were written before the kill depends on the machine's load: any number
    assert 12 not in first
    assert len(first) == len(set(first))
    assert not list(out.glob(".*.tmp"))  # only whole shards

    log2 = tmp_path / "calls2.log"
    counts = run_ray(src, out, RayOptions(model=partial(Recording, log2), num_workers=2, batch_size=2))
    assert (counts["skipped"], counts["ok"], counts["errors"]) == (len(first), 12 - len(first), 0)
    assert calls(log2) == sorted(f"Alpha number {i}." for i in range(1, 13) if i not in first)  # only the rest
    assert lines_of(out) == list(range(1, 13))
    assert sum(len(json.loads("[" + ",".join(p.read_text().splitlines()) + "]"))
               for p in shard_paths(out)) == 12  # no duplicate anywhere in OUT_DIR


def test_a_worker_process_that_dies_is_restarted_and_its_batch_redone(tmp_path):
    src, out, log = tmp_path / "in.jsonl", tmp_path / "out", tmp_path / "calls.log"
    write_input(src, n=6)
    counts = run_ray(src, out, RayOptions(model=partial(Recording, log, exit_on="number 3"), num_workers=2,
                                          batch_size=2))
    assert (counts["ok"], counts["errors"]) == (6, 0)
    assert log.with_suffix(".exited").exists()  # it did die once
    assert lines_of(out) == [1, 2, 3, 4, 5, 6]


def test_partial_output_of_a_killed_run_is_never_counted(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_input(src, n=6)
    out.mkdir()
    sha1 = [line_sha1(line) for line in src.read_text().splitlines()]
    good = [{"line": n, "id": f"r{n}", "input_sha1": sha1[n - 1], "ok": False, "error": "kept", "error_type": "X",
             "error_kind": "input"} for n in (1, 2)]
    write_shard(out, "part-old-000000", good, [json.dumps(r) for r in good], "jsonl")
    (out / ".part-old-000001.jsonl.tmp").write_text('{"line": 3, "ok": true}\n')  # killed mid-write
    (out / "part-old-000002.jsonl").write_text('{"line": 4, "id": "r4", "ok": true}\n{"line": 5, "i')  # cut off
    with pytest.warns(UserWarning, match="unreadable"):
        assert read_output_dir(out).done.keys() == {1, 2}
    assert not (out / ".part-old-000001.jsonl.tmp").exists()
    assert (out / "part-old-000002.jsonl.corrupt").exists()
    counts = run_ray(src, out, RayOptions(model=scripted, batch_size=2))
    assert (counts["skipped"], counts["ok"]) == (2, 4)
    records = read_results_dir(out)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6] and records[0]["error"] == "kept"


def test_two_runs_cannot_write_the_same_out_dir(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_input(src, n=2)
    out.mkdir()
    with open(out / LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another run"):
            run_ray(src, out, RayOptions(model=scripted))


def test_options_are_checked(tmp_path, capsys):
    from rag_attrib.cli import main

    src = tmp_path / "in.jsonl"
    write_input(src, n=1)
    (tmp_path / "file").write_text("")
    assert main(["verify", str(src), "--out", str(tmp_path / "file"), "--engine", "ray"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["verify", str(src), "--out", str(tmp_path / "o.jsonl"), "--num-workers", "2"]) == 2
    assert "--num-workers only applies with --engine ray" in capsys.readouterr().err
    with pytest.raises(RayEngineError, match="format"):
        run_ray(src, tmp_path / "x", fmt="csv")
    with pytest.raises(RayEngineError, match=r"^batch_size \(--batch-size\) must be at least 1, got 0$"):
        run_ray(src, tmp_path / "x", batch_size=0)
    with pytest.raises(RayEngineError, match="format"):  # a keyword overrides the options' field
        run_ray(src, tmp_path / "x", RayOptions(fmt="jsonl"), fmt="csv")
    with pytest.raises(TypeError, match="num_worker"):
        run_ray(src, tmp_path / "x", num_worker=2)


def test_ray_is_imported_only_when_asked():
    code = "import sys, rag_attrib.cli, rag_attrib.batch, rag_attrib.ray_engine; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --------------------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_cli_on_the_embedded_model_matches_the_local_engine(tmp_path, capfd):
    import torch

    from rag_attrib import Attributor
    from rag_attrib.cli import main

    src = ROOT / "examples" / "verify_input.jsonl"  # 4 records, one without chunks
    local = tmp_path / "local.jsonl"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker (1 CPU each); also spares a shared 2-core machine
    try:
        run_local(Attributor.load("smollm2"), src, local, progress=False)
    finally:
        torch.set_num_threads(threads)

    out, report = tmp_path / "out", tmp_path / "report.html"
    argv = ["verify", str(src), "--out", str(out), "--engine", "ray", "--num-workers", "2", "--batch-size", "1",
            "--format", "parquet", "--model", "smollm2"]
    assert main(argv + ["--html", str(report)]) == 0
    captured = capfd.readouterr()
    stdout = captured.out
    assert "3 verified, 1 errors, 0 already done" in stdout and "ray: 2 workers," in stdout  # as many as started
    assert "core_worker" not in captured.err and "Warning" not in captured.err  # Ray's own noise: in OUT/.ray.log
    assert "Not verified (1)" in report.read_text()

    expected, got = read_results(local), read_results_dir(out)
    assert [r["line"] for r in got] == [r["line"] for r in expected] == [1, 2, 3, 4]
    for mine, theirs in zip(got, expected):
        if mine["ok"]:  # the run with --html keeps each token's relevance; the local run did not
            assert mine["attribution"].pop("token_relevance", None) is not None
        assert approx_equal(mine, theirs), mine["line"]

    assert main(argv) == 0  # resumed: nothing left to do, no worker started
    assert "0 verified, 0 errors, 4 already done" in capfd.readouterr().out


def approx_equal(a, b, rel=1e-4) -> bool:
    """Equal, floats up to ``rel`` (identical so far; other processes may reduce in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(approx_equal(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(approx_equal(x, y, rel) for x, y in zip(a, b))
    return a == b


def test_lines_that_are_not_records_are_the_same_input_errors_as_locally(tmp_path):
    src = tmp_path / "in.jsonl"
    write_input(src, n=6)
    lines = src.read_bytes().split(b"\n")
    lines[0] = b"[" * 100_000 + b"]" * 100_000  # nested too deeply, on the line the input check reads
    lines[1] = b'{"id": "r2", "answer": "caf\xe9"}'  # latin-1, not UTF-8
    lines[2] = lines[2].replace(b'"r3"', b'"\\ud800x"')  # a lone surrogate escape in the id
    lines[3] = b"[1, 2]"
    src.write_bytes(b"\n".join(lines))
    local = tmp_path / "local.jsonl"
    run_local(scripted(), src, local, progress=False)
    counts = run_ray(src, tmp_path / "ray", RayOptions(model=scripted, num_workers=1, batch_size=2))
    assert (counts["ok"], counts["errors"]) == (2, 4)
    records = read_results_dir(tmp_path / "ray")
    assert records == read_results(local)
    assert [r.get("error_kind") for r in records] == ["input"] * 4 + [None, None]
    assert "not valid UTF-8" in records[1]["error"] and "lone surrogate" in records[2]["error"]


@pytest.mark.parametrize(("memory", "allocator_set"), [("low", True), ("auto", False)])
def test_a_low_memory_worker_returns_freed_memory_at_once(monkeypatch, memory, allocator_set):
    """``--memory low`` reaches the actors; each is a process of its own, so it sets its allocator as the CLI does."""
    from rag_attrib.attribute import Attributor
    from rag_attrib.lrp import relevance
    from rag_attrib.ray_engine import VerifyWorker

    loaded, mallopt = [], []
    monkeypatch.setattr(Attributor, "load", classmethod(lambda cls, name=None, **kw: loaded.append(kw) or "model"))
    monkeypatch.setattr(relevance, "return_freed_memory_at_once", lambda: mallopt.append(True) or True)
    worker = VerifyWorker(None, load_kwargs={"memory": memory})
    assert worker.attributor == "model" and loaded == [{"memory": memory}]
    assert mallopt == ([True] if allocator_set else [])
