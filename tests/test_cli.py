"""Tests for the `rag-attrib` command line and the terminal renderer (no model loaded, except one slow test)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from rag_attrib import __version__
from rag_attrib.cli import DEFAULT_DEMO_JSON, DEMO, build_parser, main, read_chunks
from rag_attrib.errors import ChunkFileError, ContextTooLongError, NoChunksError
from rag_attrib.render.terminal import print_result, result_table
from rag_attrib.types import AttributionResult, Chunk, Citation, SentenceAttribution, Span


def make_result(proxy: bool = True, question: str | None = "Who built the [bold]tower[/bold]?") -> AttributionResult:
    chunks = (
        Chunk("[1]", "The tower was built by [bold]Ada[/bold] in 1847 :warning:."),
        Chunk("bakery", "The bakery opened in 1903 and sells [red]rye[/red] bread."),
        Chunk("ferry", "The ferry sails twice a day. " * 10),
    )
    answer = "Ada built the [tower] in 1847. The bakery sells rye bread."
    first, second = answer.split(". ", 1)
    s1 = SentenceAttribution(
        text=first + ".",
        span=Span(0, len(first) + 1),
        citations=(Citation("[1]", 12.5, 0.62), Citation("bakery", 1.25, 0.05), Citation("ferry", -0.5, 0.01)),
        cited=("[1]",),
        grounding=0.68,
        target_value=30.0,
    )
    s2 = SentenceAttribution(
        text=second,
        span=Span(len(first) + 2, len(answer)),
        citations=(Citation("bakery", 9.0, 0.4), Citation("[1]", 3.0, 0.2), Citation("ferry", 0.1, 0.01)),
        cited=("bakery", "[1]"),
        grounding=0.61,
        target_value=22.0,
    )
    return AttributionResult(
        sentences=(s1, s2),
        chunks=chunks,
        chunk_spans=(Span(0, 1), Span(2, 3), Span(4, 5)),
        prompt="prompt",
        answer=answer,
        question=question,
        model="Tiny-[i]Model[/i]",
        target="token",
        proxy=proxy,
        min_share=0.15,
    )


def render(result: AttributionResult, **kw) -> str:
    console = Console(record=True, width=120)
    print_result(result, console=console, **kw)
    return console.export_text()


# ------------------------------------------------------------------------------------------------ parser


def test_parser_demo_defaults():
    args = build_parser().parse_args(["demo"])
    assert args.command == "demo" and args.model is None and args.json == DEFAULT_DEMO_JSON


def test_parser_attribute_options():
    args = build_parser().parse_args(
        ["attribute", "--chunks", "c.json", "--question", "Q?", "--answer", "A.", "--model", "m", "--json", "o.json",
         "--target", "logprob", "--prompt-file", "p.txt"]
    )
    assert (args.chunks, args.question, args.answer, args.answer_file) == ("c.json", "Q?", "A.", None)
    assert (args.model, args.json, args.target, args.prompt_file) == ("m", "o.json", "logprob", "p.txt")
    args = build_parser().parse_args(["attribute", "--chunks", "c.json", "--question", "Q?"])
    assert args.answer is None and args.target is None and args.json is None


@pytest.mark.parametrize(
    "argv",
    [
        ["attribute", "--question", "Q"],  # --chunks is required
        ["attribute", "--chunks", "c", "--question", "Q", "--answer", "A", "--answer-file", "f"],  # exclusive
        ["attribute", "--chunks", "c", "--question", "Q", "--target", "mean"],  # not a target
        ["explode"],
    ],
)
def test_parser_rejects(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "demo" in out and "attribute" in out


# ------------------------------------------------------------------------------------------------ chunk files


def test_read_json_strings(tmp_path: Path):
    f = tmp_path / "chunks.json"
    f.write_text(json.dumps(["first chunk", "second chunk"]))
    assert read_chunks(f) == (Chunk("1", "first chunk"), Chunk("2", "second chunk"))


def test_read_json_objects(tmp_path: Path):
    f = tmp_path / "chunks.json"
    f.write_text(json.dumps([{"id": "doc-7", "text": "alpha", "metadata": {"page": 3}}, {"text": "beta"}]))
    assert read_chunks(f) == (Chunk("doc-7", "alpha", {"page": 3}), Chunk("2", "beta"))


def test_read_jsonl(tmp_path: Path):
    f = tmp_path / "chunks.jsonl"
    f.write_text('{"id": "a", "text": "alpha"}\n\n"plain string"\n{"text": "gamma", "id": 9}\n')
    assert read_chunks(f) == (Chunk("a", "alpha"), Chunk("2", "plain string"), Chunk("9", "gamma"))


def test_read_plain_text(tmp_path: Path):
    f = tmp_path / "chunks.txt"
    f.write_text("\n[1] First passage,\nstill the first.\n\n   \nSecond {passage}.\n\n\n\nThird.\n")
    assert read_chunks(f) == (
        Chunk("1", "[1] First passage,\nstill the first."),
        Chunk("2", "Second {passage}."),
        Chunk("3", "Third."),
    )


def test_plain_text_chunks_labelled_one_per_line_are_refused_not_read_as_one(tmp_path: Path):
    f = tmp_path / "chunks.txt"
    f.write_text("[1] The Quenby lighthouse was built in 1872.\n[2] Quenby's bakery is run by Mira Tollan.\n")
    with pytest.raises(ChunkFileError, match="one passage of 2 numbered lines.*put an empty line between them"):
        read_chunks(f)
    for one_chunk in ("A passage wrapped\nat eighty columns [1] stays\none chunk.",
                      "[INFO] a log excerpt\n[WARN] stays one chunk", "[1] a list that\n[3] skips is one chunk"):
        f.write_text(one_chunk + "\n")  # only lines numbered [1], [2], ... in order are refused
        assert read_chunks(f) == (Chunk("1", one_chunk),)


def test_sniffs_json_and_jsonl_without_extension(tmp_path: Path):
    f = tmp_path / "chunks"
    f.write_text('["x", "y"]')
    assert [c.text for c in read_chunks(f)] == ["x", "y"]
    f.write_text('{"text": "x"}\n{"text": "y"}\n')
    assert [c.text for c in read_chunks(f)] == ["x", "y"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.json", "[1, 2", "not valid JSON"),
        ("c.json", '{"text": "x"}', "JSON list"),
        ("c.json", '[{"id": "a"}]', 'no "text" key'),
        ("c.json", "[3]", "JSON int"),
        ("c.json", '[{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]', "unique"),
        ("c.json", '["fine", "   "]', "no text"),
        ("c.jsonl", '{"text": "x"}\n{oops\n', "line 2"),
    ],
)
def test_bad_chunk_files(tmp_path: Path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(ChunkFileError, match=message):
        read_chunks(f)


@pytest.mark.parametrize(
    ("name", "content"), [("c.txt", "\n  \n\n"), ("c.json", "[]"), ("c.jsonl", ""), ("c.json", "")]
)
def test_empty_chunk_files(tmp_path: Path, name, content):
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(NoChunksError, match="no chunks in"):
        read_chunks(f)


# ------------------------------------------------------------------------------------------------ exit codes


def test_missing_chunks_file_exits_2(tmp_path: Path, capsys):
    missing = tmp_path / "nope.json"
    assert main(["attribute", "--chunks", str(missing), "--question", "Q?", "--answer", "A."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.json" in err and "does not exist" in err
    assert "Traceback" not in err


def test_empty_chunks_file_exits_2(tmp_path: Path, capsys):
    f = tmp_path / "empty.txt"
    f.write_text("\n\n")
    assert main(["attribute", "--chunks", str(f), "--question", "Q?"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no chunks in") and "Traceback" not in err


def test_missing_answer_file_exits_2(tmp_path: Path, capsys):
    f = tmp_path / "c.txt"
    f.write_text("a chunk")
    assert main(["attribute", "--chunks", str(f), "--question", "Q?", "--answer-file", str(tmp_path / "a.txt")]) == 2
    assert "answer file" in capsys.readouterr().err


def test_unreadable_answer_and_prompt_files_name_the_fix(tmp_path: Path, capsys):
    chunks = tmp_path / "c.txt"
    chunks.write_text("a chunk")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    base = ["attribute", "--chunks", str(chunks), "--question", "Q?"]
    for flags, said in [(["--answer-file", str(tmp_path)], "answer file {!r} is a directory; pass a UTF-8 text file"),
                        (["--answer", "A.", "--prompt-file", str(tmp_path)], "prompt file {!r} is a directory"),
                        (["--answer-file", str(tmp_path / "latin1.txt")], "answer file {!r} is not UTF-8 text")]:
        assert main(base + flags) == 2
        err = capsys.readouterr().err
        assert said.format(flags[-1]) in err and "Traceback" not in err, err
    assert main(["attribute", "--chunks", str(tmp_path), "--question", "Q?", "--answer", "A."]) == 2
    assert "is a directory; pass a .json, .jsonl or .txt file" in capsys.readouterr().err


def test_question_required_without_prompt_file(tmp_path: Path, capsys):
    f = tmp_path / "c.txt"
    f.write_text("a chunk")
    assert main(["attribute", "--chunks", str(f)]) == 2
    assert "--question is required" in capsys.readouterr().err


class FakeAttributor:
    """Stands in for Attributor: records calls, returns a hand-built result (or raises)."""

    def __init__(self, raise_error: Exception | None = None):
        self.calls: list[tuple] = []
        self.raise_error = raise_error

    def attribute(self, question, chunks, answer=None, *, target=None):
        self.calls.append(("attribute", question, chunks, answer, target))
        return self._result()

    def attribute_prompt(self, prompt, chunks, answer=None, *, question=None, target=None):
        self.calls.append(("attribute_prompt", prompt, chunks, answer, question, target))
        return self._result()

    def _result(self):
        if self.raise_error:
            raise self.raise_error
        return make_result()


@pytest.fixture
def fake(monkeypatch):
    from rag_attrib.attribute import Attributor

    holder = {"fake": FakeAttributor(), "loaded": [], "options": []}

    def load(cls, name_or_path=None, **kw):
        holder["loaded"].append(name_or_path)
        holder["options"].append(kw)
        return holder["fake"]

    monkeypatch.setattr(Attributor, "load", classmethod(load))
    return holder


def test_no_support_loads_the_model_without_its_support_model(monkeypatch):
    from rag_attrib import cli
    from rag_attrib.attribute import Attributor
    from rag_attrib.cli.common import load_attributor

    calls = []
    monkeypatch.setattr(Attributor, "load", classmethod(lambda cls, name=None, **kw: calls.append(kw) or "loaded"))
    stderr = Console(file=io.StringIO())
    assert load_attributor(None, stderr) == load_attributor(None, stderr, support=False) == "loaded"
    assert calls == [{"memory": "auto"}, {"memory": "auto", "support": None}]  # the default keeps the support model
    args = cli.build_parser().parse_args(["verify", "in.jsonl", "--out", "o.jsonl", "--no-support"])
    assert args.no_support and not cli.build_parser().parse_args(["demo"]).no_support


def test_judge_loads_the_judge_model_for_the_support_model(monkeypatch, tmp_path, capsys):
    import rag_attrib.ray_engine
    import rag_attrib.serve
    from rag_attrib.attribute import Attributor
    from rag_attrib.cli import attribute, demo, verify
    from rag_attrib.cli import eval as eval_cli
    from rag_attrib.cli.common import load_attributor
    from rag_attrib.errors import CliInputError

    calls = []
    monkeypatch.setattr(Attributor, "load", classmethod(lambda cls, name=None, **kw: calls.append(kw) or "loaded"))
    stderr = Console(file=io.StringIO())
    assert load_attributor(None, stderr, judge="qwen2.5-1.5b") == "loaded"
    assert calls == [{"memory": "auto", "judge": "qwen2.5-1.5b"}]

    judges = []

    def loading(model, stderr, support=True, memory="auto", judge=None):
        judges.append(judge)
        raise CliInputError("stop here")

    def running(model, load_kwargs, *args, **kwargs):
        judges.append(load_kwargs.get("judge"))
        return 0

    for module in (attribute, demo, eval_cli, verify):
        monkeypatch.setattr(module, "load_attributor", loading)
    monkeypatch.setattr(rag_attrib.serve, "run_server", running)
    monkeypatch.setattr(rag_attrib.ray_engine, "run_ray", lambda *a, load_kwargs, **k: running(None, load_kwargs) or 1 / 0)
    (tmp_path / "c.txt").write_text("A chunk.")
    (tmp_path / "in.jsonl").write_text('{"question": "q", "chunks": ["c"], "answer": "a."}\n')
    out = str(tmp_path / "o.jsonl")
    commands = [["demo"], ["attribute", "--chunks", str(tmp_path / "c.txt"), "--question", "q", "--answer", "a."],
                ["eval", "--json", str(tmp_path / "e.json")], ["serve"], ["verify", str(tmp_path / "in.jsonl"), "--out", out],
                ["verify", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "ray"), "--engine", "ray"]]
    for command in commands:
        with contextlib.suppress(ZeroDivisionError):  # the ray engine's stand-in stops after taking the options
            main([*command, "--judge", "qwen2.5-1.5b"])
    assert judges == ["qwen2.5-1.5b"] * len(commands)  # every command hands the judge on

    Path(out).write_text("kept\n")
    for wrong in (["--no-support"], ["--model", "smollm2"]):  # nothing would read the judge: told before OUT is touched
        assert main(["verify", str(tmp_path / "in.jsonl"), "--out", out, "--restart", *wrong, "--judge", "qwen2.5-1.5b"]) == 2
        assert Path(out).read_text() == "kept\n"
    err = capsys.readouterr().err
    assert "--judge answers for the support model, which --no-support turns off" in err
    assert "no support fit of --model smollm2 reads its answers" in err and "--judge qwen2.5-1.5b" in err
    assert main(["serve", "--model", "smollm2", "--judge", "qwen2.5-1.5b"]) == 2 and len(judges) == len(commands)


def local_commands(tmp_path: Path) -> list[list[str]]:
    """demo, attribute and verify, each on small inputs written to ``tmp_path``."""
    chunks = tmp_path / "c.txt"
    chunks.write_text("alpha\n\nbeta\n")
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"question": "Which?", "chunks": ["alpha", "beta"], "answer": "Alpha [1]."}) + "\n")
    return [["demo", "--json", str(tmp_path / "demo.json")],
            ["attribute", "--chunks", str(chunks), "--question", "Which?", "--answer", "Alpha."],
            ["verify", str(records), "--out", str(tmp_path / "out.jsonl")]]


@pytest.mark.parametrize(("given", "expected"), [([], "auto"), (["--memory", "low"], "low"),
                                                 (["--memory", "fast"], "fast"), (["--memory", "512M"], 512 * 2**20),
                                                 (["--memory", "1.5g"], 3 * 2**29), (["--memory", "4096"], 4096)])
def test_memory_option_reaches_the_attributor(monkeypatch, tmp_path: Path, fake, given, expected):
    from rag_attrib.lrp import relevance

    mallopt = []
    monkeypatch.setattr(relevance, "return_freed_memory_at_once", lambda: mallopt.append(True) or True)
    for command in local_commands(tmp_path):
        main([*command, *given])
        assert fake["options"].pop() == {"memory": expected}, command
    assert mallopt == ([True] * 3 if expected == "low" else [])  # only low changes the process's allocator


def test_threads_option_sets_torch_threads_for_every_local_command(monkeypatch, tmp_path: Path, fake, capsys):
    import torch

    set_to = []
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    for command in local_commands(tmp_path):
        assert main([*command, "--threads", "2"]) == 0, command
        assert main(command) == 0  # without it, torch's own choice stands
    assert set_to == [2, 2, 2]
    records = str(tmp_path / "in.jsonl")
    assert main(["verify", records, "--out", str(tmp_path / "shards"), "--engine", "ray", "--threads", "2"]) == 2
    assert "--threads applies to the local engine; with --engine ray give --num-cpus-per-worker" in (
        capsys.readouterr().err)
    for bad in ("0", "two", "-1"):
        with pytest.raises(SystemExit):
            main(["demo", "--threads", bad])
        assert "is not a positive number of threads" in capsys.readouterr().err


def test_memory_option_reaches_the_ray_workers(monkeypatch, tmp_path: Path):
    from rag_attrib import ray_engine

    seen = {}

    def run_ray(input_path, out, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(ray_engine, "run_ray", run_ray)
    (tmp_path / "in.jsonl").write_text(json.dumps({"question": "Q?", "chunks": ["a"], "answer": "A [1]."}) + "\n")
    with pytest.raises(SystemExit):
        main(["verify", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "shards"), "--engine", "ray",
              "--memory", "low", "--no-support"])
    assert seen["load_kwargs"] == {"memory": "low", "support": None}


@pytest.mark.parametrize("given", ["lots", "0", "-1G", "G", "", "inf", "1e400", "nan"])
def test_a_bad_memory_option_is_refused_by_name(given, capsys):
    from rag_attrib import cli

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["attribute", "--chunks", "c.json", f"--memory={given}"])
    assert "not auto, fast, low or a positive budget such as 4G" in capsys.readouterr().err


def test_attribute_command_with_answer_file(tmp_path: Path, capsys, fake):
    chunks = tmp_path / "c.jsonl"
    chunks.write_text('{"id": "a", "text": "alpha"}\n{"id": "b", "text": "beta"}\n')
    answer = tmp_path / "answer.txt"
    answer.write_text("Alpha it is.\n")
    out = tmp_path / "out.json"
    rc = main(["attribute", "--chunks", str(chunks), "--question", "Which?", "--answer-file", str(answer),
               "--json", str(out), "--target", "max", "--model", "some/model"])
    assert rc == 0
    assert fake["loaded"] == ["some/model"]
    (call,) = fake["fake"].calls
    assert call == ("attribute", "Which?", (Chunk("a", "alpha"), Chunk("b", "beta")), "Alpha it is.", "max")
    assert AttributionResult.from_json(out.read_text()) == make_result()
    stdout = capsys.readouterr().out
    assert "Ada built the [tower] in 1847." in stdout and str(out.resolve()) in stdout.replace("\n", "")


def test_attribute_command_with_prompt_file(tmp_path: Path, fake):
    chunks = tmp_path / "c.txt"
    chunks.write_text("alpha\n\nbeta\n")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Sources: alpha\nbeta\nQ: which?\nA:")
    assert main(["attribute", "--chunks", str(chunks), "--prompt-file", str(prompt), "--answer", "Alpha."]) == 0
    (call,) = fake["fake"].calls
    assert call == ("attribute_prompt", "Sources: alpha\nbeta\nQ: which?\nA:",
                    (Chunk("1", "alpha"), Chunk("2", "beta")), "Alpha.", None, None)


def test_library_error_exits_2(tmp_path: Path, capsys, fake):
    fake["fake"] = FakeAttributor(ContextTooLongError("prompt is too long; pass fewer chunks"))
    chunks = tmp_path / "c.txt"
    chunks.write_text("alpha")
    assert main(["attribute", "--chunks", str(chunks), "--question", "Q?"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: prompt is too long; pass fewer chunks"


def test_demo_command_wiring(tmp_path: Path, fake, capsys):
    out = tmp_path / "demo.json"
    assert main(["demo", "--json", str(out)]) == 0
    assert fake["loaded"] == [None]
    (call,) = fake["fake"].calls
    assert call == ("attribute", DEMO["question"], DEMO["chunks"], None, None)
    assert out.is_file()


def test_demo_data_is_fictional_and_single_source():
    chunks = DEMO["chunks"]
    assert len(chunks) == 5 and len({c.id for c in chunks}) == 5
    assert all(isinstance(c, Chunk) for c in chunks)
    assert [c.id for c in chunks if "1847" in c.text] == ["lighthouse"]
    assert "lighthouse" in DEMO["question"]


# ------------------------------------------------------------------------------------------------ rendering


def test_print_result_shows_sentences_citations_and_escaped_markup():
    text = render(make_result(proxy=True))
    assert "Question: Who built the [bold]tower[/bold]?" in text
    assert "Tiny-[i]Model[/i]" in text
    assert "proxy" in text and "teacher forcing" in " ".join(text.split())
    assert "Ada built the [tower] in 1847." in text
    assert "The bakery sells rye bread." in text
    assert "[1] 12.5 (62%)" in text and "bakery 9 (40%)" in text
    assert "68%" in text and "61%" in text
    # the legend: "[id] text", with markup and emoji codes in chunk text printed literally
    squeezed = [" ".join(line.split()) for line in text.splitlines()]
    assert "[[1]] The tower was built by [bold]Ada[/bold] in 1847 :warning:." in squeezed
    assert "[bakery] The bakery opened in 1903 and sells [red]rye[/red] bread." in squeezed
    ferry_line = next(line for line in text.splitlines() if "[ferry]" in line)
    assert ferry_line.rstrip().endswith("…") and len(ferry_line.split("] ", 1)[1].strip()) <= 80


def test_print_result_own_answer_and_no_question():
    text = render(make_result(proxy=False, question=None))
    assert "Question:" not in text
    assert "model's own answer" in text and "teacher forcing" not in text


def test_result_table_rows_and_top():
    table = result_table(make_result(), top=1)
    assert table.row_count == 2
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "[1] 12.5 (62%)" in text and "bakery 9 (40%)" in text
    assert "bakery 1.25" not in text  # only the top citation of each sentence
    cited_rows = [line for line in text.splitlines() if line.lstrip().startswith(("1 ", "2 "))]
    assert "[1]" in cited_rows[0] and "bakery" in cited_rows[1]


def test_print_result_narrow_console_does_not_crash():
    console = Console(record=True, width=50)
    print_result(make_result(), console=console)
    assert "Ada" in console.export_text()


# ------------------------------------------------------------------------------------------------ real model


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys):
    out = tmp_path / "d.json"
    assert main(["demo", "--json", str(out)]) == 0
    result = AttributionResult.from_json(out.read_text(encoding="utf-8"))
    assert len(result.sentences) >= 1
    assert result.question == DEMO["question"] and not result.proxy
    assert [c.id for c in result.chunks] == [c.id for c in DEMO["chunks"]]
    stdout = capsys.readouterr().out
    assert "Grounding" in stdout and "[lighthouse]" in stdout and str(out.resolve()) in stdout.replace("\n", "")


# ------------------------------------------------------------------------------------------------ verify


def test_verify_command_writes_jsonl_html_and_summary(tmp_path: Path, capsys, monkeypatch):
    from test_verify import CHUNKS as VERIFY_CHUNKS
    from test_verify import ScriptedAttributor

    from rag_attrib.attribute import Attributor

    monkeypatch.setattr(Attributor, "load", classmethod(lambda cls, name=None, **kw: ScriptedAttributor(
        {"Alpha": {"a": 0.6}, "Beta": {"b": 0.5}})))
    src = tmp_path / "in.jsonl"
    good = {"question": "q?", "chunks": [c.to_dict() for c in VERIFY_CHUNKS]}
    src.write_text("\n".join([
        json.dumps({**good, "id": "x", "answer": "Alpha here [1]. Beta there [1]."}),
        "{broken",
        json.dumps({**good, "answer": "Nothing supports this."}),
    ]) + "\n")
    out, report = tmp_path / "out.jsonl", tmp_path / "report.html"
    assert main(["verify", str(src), "--out", str(out), "--html", str(report)]) == 0
    captured = capsys.readouterr()
    stdout = captured.out
    assert "\r" not in captured.err and "verifying" not in captured.err  # stderr is no terminal: no progress bar
    assert "2 verified, 1 errors, 0 already done" in stdout
    assert "supported 1, contradicted 0, miscited 1, uncited 0, ungrounded 1" in stdout
    assert "line 2: not valid JSON" in stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["line"], r["ok"]) for r in lines] == [(1, True), (2, False), (3, True)]
    page = report.read_text()
    assert "line 1 · id x" in page and "Not verified (1)" in page
    assert "<b>line 2</b>: not valid JSON" in page  # the line is named once
    assert main(["verify", str(src), "--out", str(out)]) == 0  # resumed: nothing left to do
    assert "0 verified, 0 errors, 3 already done" in capsys.readouterr().out


def test_the_record_bar_is_drawn_on_a_terminal_only():
    import io

    from rich.console import Console

    from rag_attrib.cli.common import is_tty

    forced = Console(file=io.StringIO(), force_terminal=True)  # what FORCE_COLOR does, as CI systems set it
    assert forced.is_terminal and not is_tty(forced)  # rich would draw; a \r bar would litter the log


def test_verify_command_missing_input(tmp_path: Path, capsys):
    assert main(["verify", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_verify_refuses_an_input_that_is_not_jsonl_before_the_model_loads(tmp_path: Path, capsys, scripted_model):
    from test_verify import write_input

    jsonl = tmp_path / "in.jsonl"
    write_input(jsonl, n=2)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    inputs = {
        "array.json": (json.dumps(records, indent=2), "holds a JSON array of 2 records, not JSONL"),
        "object.json": (json.dumps(records[0], indent=2), "holds one JSON value spread over several lines"),
        "one-line.json": (json.dumps(records[:1]), "holds a JSON array of 1 record, not JSONL"),
    }
    out = tmp_path / "o.jsonl"
    for name, (text, said) in inputs.items():
        (tmp_path / name).write_text(text)
        assert main(["verify", str(tmp_path / name), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    assert main(["verify", str(tmp_path), "--out", str(out)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert not out.exists() and scripted_model == []
    (tmp_path / "empty.jsonl").write_text("\n  \n")  # nothing to do is no error, but it is said
    assert main(["verify", str(tmp_path / "empty.jsonl"), "--out", str(out)]) == 0
    assert "holds no record (one JSON object per line): nothing to verify" in " ".join(capsys.readouterr().out.split())


def test_a_byte_order_mark_is_not_part_of_the_input(tmp_path: Path, capsys, scripted_model):
    from test_verify import write_input

    src, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    write_input(src, n=2)
    src.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())  # as Windows editors save "UTF-8"
    assert main(["verify", str(src), "--out", str(out)]) == 0
    assert "2 verified, 0 errors" in capsys.readouterr().out
    chunks = tmp_path / "chunks.json"
    chunks.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": "a", "text": "Alpha is here."}]).encode())
    assert read_chunks(str(chunks))[0].id == "a"


@pytest.fixture
def scripted_model(monkeypatch):
    """Attributor.load hands out a scripted attributor and records each load."""
    from test_verify import ScriptedAttributor

    from rag_attrib.attribute import Attributor

    loads = []

    def load(cls, name=None, **kw):
        loads.append(name)
        return ScriptedAttributor({"Alpha": {"a": 0.6}})

    monkeypatch.setattr(Attributor, "load", classmethod(load))
    return loads


def test_verify_refuses_to_write_over_its_input(tmp_path: Path, capsys, scripted_model):
    from test_verify import write_input

    src = tmp_path / "in.jsonl"
    write_input(src, n=2)
    before = src.read_bytes()
    assert main(["verify", str(src), "--out", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "is the input file itself" in err and err.count("\n") == 1
    assert main(["verify", str(src), "--out", str(tmp_path / "o.jsonl"), "--html", str(src)]) == 2
    assert "is the same file as" in capsys.readouterr().err
    assert main(["verify", str(src), "--out", str(tmp_path / "o.jsonl"), "--html", str(tmp_path / "o.jsonl")]) == 2
    assert "is the same file as" in capsys.readouterr().err
    assert src.read_bytes() == before and scripted_model == []


@pytest.mark.parametrize("option", ["--out", "--html"])
def test_verify_unwritable_output_fails_before_the_model_loads(tmp_path: Path, capsys, scripted_model, option):
    from test_verify import write_input

    src, blocker = tmp_path / "in.jsonl", tmp_path / "a-file"
    write_input(src, n=1)
    blocker.write_text("")
    paths = {"--out": str(tmp_path / "o.jsonl"), "--html": str(tmp_path / "r.html")}
    paths[option] = str(blocker / "x")  # its folder is a file
    assert main(["verify", str(src), "--out", paths["--out"], "--html", paths["--html"]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(blocker) in err
    assert scripted_model == []


@pytest.mark.parametrize("command,option", [("attribute", "--json"), ("attribute", "--html"), ("demo", "--json"),
                                            ("demo", "--html"), ("eval", "--json")])  # eval writes no HTML
def test_unwritable_result_paths_fail_before_the_model_loads(tmp_path: Path, capsys, scripted_model, command, option):
    """A result that could not be saved must not cost the user a generated answer or an hour of eval."""
    chunks, blocker = tmp_path / "chunks.json", tmp_path / "a-file"
    chunks.write_text(json.dumps(["Alpha is here."]))
    blocker.write_text("")
    args = {"attribute": ["attribute", "--chunks", str(chunks), "--question", "q?", "--answer", "Alpha."],
            "demo": ["demo"], "eval": ["eval", "--methods", "lexical"]}[command]
    for bad in (blocker / "x", tmp_path):  # a folder that is a file; a folder itself
        assert main([*args, option, str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot write the ") and err.count("\n") == 1 and str(bad) in err
    if command == "attribute":
        assert main([*args, option, str(chunks)]) == 2  # would replace the chunks it reads
        assert "is the same file as" in capsys.readouterr().err
        assert main([*args, "--json", str(tmp_path / "r"), "--html", str(tmp_path / "r")]) == 2
        assert "is the same file as" in capsys.readouterr().err
    assert scripted_model == []


def test_result_paths_in_new_folders_are_created(tmp_path: Path, capsys, scripted_model):
    chunks = tmp_path / "chunks.json"
    chunks.write_text(json.dumps([{"id": "a", "text": "Alpha is here."}]))
    out = tmp_path / "new" / "deeper"
    assert main(["attribute", "--chunks", str(chunks), "--question", "q?", "--answer", "Alpha is here.",
                 "--json", str(out / "r.json"), "--html", str(out / "r.html")]) == 0
    assert json.loads((out / "r.json").read_text())["answer"] == "Alpha is here."
    assert (out / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_verify_summary_on_a_foreign_output_is_a_refusal(tmp_path: Path, capsys, scripted_model):
    from test_verify import write_input

    first, second, out = tmp_path / "twelve.jsonl", tmp_path / "other.jsonl", tmp_path / "k.jsonl"
    write_input(first, n=3)
    second.write_text(first.read_text().replace("Alpha", "Beta"))
    assert main(["verify", str(first), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(second), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"holds the results of {first}, not of {second}" in err and "--restart" in err
    assert main(["verify", str(second), "--out", str(out), "--restart"]) == 0
    stdout = capsys.readouterr().out
    assert "3 verified, 0 errors, 0 already done" in stdout and "3 records of the previous run discarded" in stdout


def test_every_named_model_is_in_the_help():
    from rag_attrib.model import OFFLINE

    parser = build_parser()
    helps = [a.help for sub in parser._subparsers._group_actions[0].choices.values() for a in sub._actions
             if a.dest == "model"]
    assert len(helps) == 6 and all(name in text for text in helps for name in OFFLINE)


def test_verify_says_how_many_markers_name_no_chunk(tmp_path: Path, capsys, scripted_model):
    from test_verify import CHUNKS

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"question": "q?", "chunks": [c.to_dict() for c in CHUNKS],
                               "answer": "Alpha is first [9]. Alpha again [1]."}) + "\n")
    assert main(["verify", str(src), "--out", str(tmp_path / "o.jsonl")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 marker names no chunk ([9]): it counts as citing nothing" in out
