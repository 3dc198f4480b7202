"""The verify runner against hostile inputs and outputs: links to the output, torn or NUL-padded outputs, a full
disk at the end, lone surrogates, deep nesting, arrays as lines. Nothing doubled, nothing lost, no traceback."""

from __future__ import annotations

import json
import os
import stat

import pytest
from test_verify import ScriptedAttributor, never_loaded, script, write_input

from rag_attrib import batch
from rag_attrib.batch import read_output, read_results, run_local
from rag_attrib.cli import main
from rag_attrib.errors import OutputError

# ---------------------------------------------------------------- one run per output file, however it is spelled


@pytest.mark.parametrize("second_name", ["symlink", "hard link", "linked folder"])
def test_a_second_run_through_another_name_of_the_output_is_refused(tmp_path, second_name):
    src, out = tmp_path / "in.jsonl", tmp_path / "c.jsonl"
    write_input(src, n=3)
    out.write_bytes(b"")
    if second_name == "symlink":
        other = tmp_path / "clink.jsonl"
        other.symlink_to(out.name)
    elif second_name == "hard link":
        other = tmp_path / "hard.jsonl"
        os.link(out, other)
    else:
        (tmp_path / "folder").symlink_to(tmp_path, target_is_directory=True)
        other = tmp_path / "folder" / "c.jsonl"
    refusals = []

    class StartsASecondRun(ScriptedAttributor):
        def _result(self, chunks, answer, spans, question):
            if not refusals:
                with pytest.raises(OutputError, match=f"another run .*is writing to {other}") as refused:
                    run_local(never_loaded, src, other, progress=False)
                refusals.append(str(refused.value))
            return super()._result(chunks, answer, spans, question)

    assert run_local(StartsASecondRun({"Alpha": {"a": 0.6}}), src, out, progress=False)["ok"] == 3
    assert refusals and [json.loads(line)["line"] for line in out.read_text().splitlines()] == [1, 2, 3]
    assert run_local(never_loaded, src, other, progress=False)["skipped"] == 3  # once the first ends, it resumes


def test_retry_errors_through_a_symlink_rewrites_its_target_and_keeps_its_mode(tmp_path):
    src, target, link = tmp_path / "in.jsonl", tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    write_input(src, n=4)
    link.symlink_to(target.name)
    run_local(ScriptedAttributor({"Alpha": {"a": 0.6}}, fail_on="number 2"), src, link, progress=False)
    target.chmod(0o640)
    counts = run_local(script(), src, link, progress=False, retry_errors=True)
    assert (counts["retried"], counts["ok"]) == (1, 1)
    assert link.is_symlink() and os.readlink(link) == target.name
    assert sorted(json.loads(line)["line"] for line in target.read_text().splitlines()) == [1, 2, 3, 4]
    assert all(r["ok"] for r in read_results(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "link.jsonl", "real.jsonl"]


# ---------------------------------------------------------------- a torn end of the output is a torn write


@pytest.mark.parametrize("tail", [b"{", b'{"li', b'{"line"', b"\0" * 300,
                                  b'{"line": 3, "id": "r3", "ok": tr' + b"\0" * 40])
def test_a_torn_or_nul_padded_last_line_is_redone_and_the_records_before_it_kept(tmp_path, tail):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    run_local(script(), src, out, progress=False)
    kept = b"".join(out.read_bytes().splitlines(keepends=True)[:2])
    out.write_bytes(kept + tail)  # a crash while line 3 was written: cut off, or zeros where its bytes were to be
    assert read_output(out).done.keys() == {1, 2}
    assert out.read_bytes() == kept
    attributor = script()
    assert run_local(attributor, src, out, progress=False)["ok"] == 1 and attributor.calls == ["Alpha number 3."]
    assert [r["line"] for r in read_results(out)] == [1, 2, 3] and b"\0" not in out.read_bytes()


@pytest.mark.parametrize("content", [b'{"li\n{"line": 1, "ok": true}\n', b"\0\0\n", b'{"line": 1, "ok": true}\n\0x'])
def test_a_torn_line_that_is_not_the_last_or_is_not_ours_is_still_refused(tmp_path, content):
    src, out = tmp_path / "in.jsonl", tmp_path / "notes.txt"
    write_input(src, n=2)
    out.write_bytes(content)
    with pytest.raises(OutputError, match="not a results file of rag-attrib verify"):
        run_local(never_loaded, src, out, progress=False)
    assert out.read_bytes() == content


# ---------------------------------------------------------------- a full disk at the very end


class FullDisk:
    """A file on a disk that fills up (ENOSPC) at its close (``at="close"``, after really closing) or at every
    flush (``at="flush"``)."""

    def __init__(self, handle, at):
        self.handle, self.at = handle, at

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.handle.close()
        if self.at == "close":
            raise OSError(28, "No space left on device")

    def flush(self):
        if self.at == "flush":
            raise OSError(28, "No space left on device")
        self.handle.flush()


def fill_the_disk(monkeypatch, at, mode, path=None):
    """The files the runner opens with ``mode`` (at ``path``) fill the disk ``at`` close or flush."""
    import builtins

    def open_(file, how="r", *args, **kwargs):
        handle = builtins.open(file, how, *args, **kwargs)  # noqa: SIM115  the caller closes it
        hit = how == mode and (path is None or os.fspath(file) == os.fspath(path))
        return FullDisk(handle, at) if hit else handle

    monkeypatch.setattr(batch, "open", open_, raising=False)


def test_a_full_disk_at_the_final_close_is_one_error_line_and_keeps_the_records(tmp_path, monkeypatch, capsys):
    from rag_attrib.attribute import Attributor

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    fill_the_disk(monkeypatch, "close", "a", out)
    with pytest.raises(OutputError, match="No space left on device; the 3 records written this time are kept"):
        run_local(script(), src, out, progress=False)
    assert [r["line"] for r in read_results(out)] == [1, 2, 3]

    out.unlink()
    monkeypatch.setattr(Attributor, "load", classmethod(lambda cls, name=None, **kw: script()))
    assert main(["verify", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {out}: No space left on device") and err.count("\n") == 1, err
    assert [r["line"] for r in read_results(out)] == [1, 2, 3]


def test_a_full_disk_at_the_lock_file_is_one_error_line(tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=1)
    fill_the_disk(monkeypatch, "flush", "a+")
    assert main(["verify", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lock = tmp_path / ".out.jsonl.lock"
    assert err == f"error: cannot write next to {out} (lock file {lock}): No space left on device\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# ---------------------------------------------------------------- records no output can hold, or no parser can read


def test_a_lone_surrogate_is_an_input_error_and_the_lines_after_it_are_verified(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=4)
    lines = src.read_text().splitlines()
    lines[1] = lines[1].replace('"r2"', '"\\ud800x"')  # an escape of half a UTF-16 pair: no character
    lines[2] = lines[2].replace("Alpha number 3", "Alpha \\udc00 number 3")
    src.write_text("\n".join(lines) + "\n")
    attributor = script()
    counts = run_local(attributor, src, out, progress=False)
    assert (counts["ok"], counts["errors"]) == (2, 2) and attributor.calls == ["Alpha number 1.", "Alpha number 4."]
    records = read_results(out)
    assert [(r["line"], r["ok"], r.get("error_kind")) for r in records] == [
        (1, True, None), (2, False, "input"), (3, False, "input"), (4, True, None)]
    assert records[1]["error"] == ("line 2: id holds a lone surrogate escape (\\ud800), half of a UTF-16 pair and "
                                   "no character; write the character itself, or both halves of its escape")
    assert records[1]["id"] is None and records[2]["id"] == "r3"
    assert records[2]["error"].startswith("line 3: answer holds a lone surrogate escape (\\udc00)")
    assert run_local(never_loaded, src, out, progress=False, retry_errors=True)["retried"] == 0


def test_a_line_nested_too_deeply_is_an_input_error_and_the_run_goes_on(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    lines = src.read_text().splitlines()
    deep = "[" * 100_000 + "]" * 100_000
    lines[0] = deep  # line 1: also what the input check looks at first
    lines[1] = lines[1].replace('"answer"', f'"deep": {deep}, "answer"')
    src.write_text("\n".join(lines) + "\n")
    counts = run_local(script(), src, out, progress=False)
    assert (counts["ok"], counts["errors"]) == (1, 2)
    records = read_results(out)
    assert [(r["ok"], r.get("error_kind")) for r in records] == [(False, "input"), (False, "input"), (True, None)]
    assert records[0]["error"].startswith("line 1: nested too deeply to read")
    assert records[1]["error"].startswith("line 2: nested too deeply to read")


def test_an_array_on_a_line_of_jsonl_is_one_bad_line(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    lines = src.read_text().splitlines()
    src.write_text("\n".join(["[1, 2]", "[]", lines[2]]) + "\n")
    counts = run_local(script(), src, out, progress=False)
    assert (counts["ok"], counts["errors"]) == (1, 2)
    errors = [r["error"] for r in read_results(out) if not r["ok"]]
    assert errors == ["line 1: a record must be a JSON object, got an array",
                      "line 2: a record must be a JSON object, got an array"]
    assert {r.get("error_kind") for r in read_results(out) if not r["ok"]} == {"input"}


# ---------------------------------------------------------------- which input is named, when one is refused


def test_an_edited_copy_that_resumed_is_named_as_the_input_its_lines_came_from(tmp_path):
    original, copy, out = tmp_path / "original.jsonl", tmp_path / "copy.jsonl", tmp_path / "out.jsonl"
    write_input(original, n=2)
    run_local(script(), original, out, progress=False)
    write_input(copy, n=3)  # a copy with one more record: it resumes, and line 3 is verified from it
    assert run_local(script(), copy, out, progress=False)["ok"] == 1
    copy.write_text(copy.read_text().replace("number 3", "number three"))
    with pytest.raises(OutputError) as refused:
        run_local(never_loaded, copy, out, progress=False)
    assert str(refused.value).startswith(f"{copy} changed since its results in {out} were written (1 of the 3 lines "
                                         "verified differ, the first is line 3)")
    copy.write_text(copy.read_text().replace("number 1", "number one"))
    with pytest.raises(OutputError, match=f"^{out} holds the results of {original}, not of {copy} "):
        run_local(never_loaded, copy, out, progress=False)  # line 1 came from the original


def test_a_relative_input_is_named_where_it_is(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    out = tmp_path / "out.jsonl"
    write_input(first / "in.jsonl", n=2)
    (second / "in.jsonl").write_text((first / "in.jsonl").read_text().replace("number 1", "number one"))
    monkeypatch.chdir(first)
    run_local(script(), "in.jsonl", out, progress=False)
    monkeypatch.chdir(second)
    with pytest.raises(OutputError, match=f"^{out} holds the results of {first / 'in.jsonl'}, not of "
                                          f"{second / 'in.jsonl'} "):
        run_local(never_loaded, "in.jsonl", out, progress=False)
