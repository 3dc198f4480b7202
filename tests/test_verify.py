"""Citation verification: marker parsing, verdicts, batch metrics, the resumable JSONL runner."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from tiny_models import byte_tokenizer

from rag_attrib import verification
from rag_attrib.aggregate import DEFAULT_MIN_SHARE
from rag_attrib.batch import line_sha1, read_output, read_results, run_local, verify_line
from rag_attrib.errors import OutputError
from rag_attrib.text import split_sentences
from rag_attrib.types import AttributionResult, Chunk, Citation, SentenceAttribution, Span, as_chunks
from rag_attrib.verification import Verification, parse_markers, strip_markers, summarize, verify

CHUNKS = [Chunk("a", "Alpha text."), Chunk("b", "Beta text."), Chunk("doc-7", "Gamma text.")]


class ScriptedAttributor:
    """Stands in for Attributor: each sentence's shares come from a script keyed by a word in it."""

    def __init__(self, script: dict[str, dict[str, float]], fail_on: str | None = None):
        self.script, self.fail_on, self.calls = script, fail_on, []

    def attribute(self, question, chunks, answer, *, sentences=None, target=None):
        return self._result(chunks, answer, sentences, question)

    def attribute_prompt(self, prompt, chunks, answer, *, question=None, sentences=None, target=None):
        return self._result(chunks, answer, sentences, question)

    def _result(self, chunks, answer, spans, question):
        chunks = as_chunks(chunks)
        self.calls.append(answer)
        if self.fail_on and self.fail_on in answer:
            raise RuntimeError(f"scripted failure on {self.fail_on!r}")
        spans = spans or split_sentences(answer)
        sentences = []
        for span in spans:
            text = span.of(answer)
            shares = next((v for k, v in self.script.items() if k in text), {})
            citations = sorted((Citation(c.id, 10 * shares.get(c.id, 0.0), shares.get(c.id, 0.0)) for c in chunks),
                               key=lambda c: c.score, reverse=True)
            cited = tuple(c.chunk_id for c in citations if c.share >= DEFAULT_MIN_SHARE)
            sentences.append(SentenceAttribution(text, span, tuple(citations), cited, sum(shares.values()), 1.0))
        return AttributionResult(tuple(sentences), chunks, tuple(Span(0, 1) for _ in chunks), "prompt", answer,
                                 question, "scripted", "token", True, DEFAULT_MIN_SHARE)


# ---------------------------------------------------------------- markers


@pytest.mark.parametrize(
    "text,keys,ids",
    [
        ("Alpha [1].", ["1"], ["a"]),
        ("Beta [2][3].", ["2", "3"], ["b", "doc-7"]),
        ("Both [1, 2].", ["1", "2"], ["a", "b"]),
        ("Gamma [doc-7].", ["doc-7"], ["doc-7"]),
        ("Footnote [^2].", ["2"], ["b"]),
        ("Nowhere [9].", ["9"], [None]),
        ("By id [b].", ["b"], ["b"]),
        ("No marker here.", [], []),
        ("A range [1-3].", ["1", "2", "3"], ["a", "b", "doc-7"]),
        ("Spaced [ 2 ].", ["2"], ["b"]),
        ("An API's 【2†source】.", ["2"], ["b"]),
        ("Named [Source 1] and [sources: 2, 3].", ["1", "2", "3"], ["a", "b", "doc-7"]),
        ("Not a range [3-1].", ["3-1"], [None]),
        ("Years [2020-2024].", ["2020-2024"], [None]),  # no chunk numbers: one key
        ("En dash [1\u20133] and [Sources 2-3].", ["1", "2", "3", "2", "3"], ["a", "b", "doc-7", "b", "doc-7"]),
        ("Glued [doc2] and [source:3].", ["2", "3"], ["b", "doc-7"]),  # one marker each, not two
        ("In words (Source 1), (Sources: 2, 3) and [citation:2].", ["1", "2", "3", "2"], ["a", "b", "doc-7", "b"]),
        ("A list item (1) is no marker.", [], []),
    ],
)
def test_parse_markers(text, keys, ids):
    markers = parse_markers(text, CHUNKS)
    assert [m.key for m in markers] == keys
    assert [m.chunk_id for m in markers] == ids
    for m in markers:
        assert text[m.span.start] in "[【(" and text[m.span.end - 1] in "]】)"
    clean, _ = strip_markers(text, markers)
    assert not any(c in clean for c in "[]【】") and "Source" not in clean


def test_a_marker_that_is_an_id_is_not_also_read_as_a_number():
    chunks = [Chunk("doc3", "C."), Chunk("doc1", "A."), Chunk("doc2", "B.")]
    assert [(m.key, m.chunk_id) for m in parse_markers("B is true [doc2].", chunks)] == [("doc2", "doc2")]


def test_brackets_in_markdown_code_are_code_not_citations():
    answer = "Use `arr[1]` for the first item [2].\n```sql\nSELECT a[1] FROM t; -- [3]\n```\nDone [1]."
    markers = parse_markers(answer, CHUNKS)
    assert [(m.key, answer[m.span.start:m.span.end]) for m in markers] == [("2", "[2]"), ("1", "[1]")]
    clean, _ = strip_markers(answer, markers)
    assert "`arr[1]`" in clean and "SELECT a[1] FROM t; -- [3]" in clean  # the code is left as written


def test_strip_markers_keeps_a_map_to_the_original():
    answer = "Alpha is first [1]. Beta [2][3] is second."
    clean, to_original = strip_markers(answer, parse_markers(answer, CHUNKS))
    assert clean == "Alpha is first. Beta is second."
    assert [answer[i] for i in to_original] == list(clean)


SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UUID = "urn:uuid:123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize("marker", ["[doc 3]", "[Source 3]", "(Source 3)", "[ doc 3 ]"])
def test_a_marker_whose_text_is_a_chunks_id_names_that_chunk_not_a_number(marker):
    name = marker.strip("[]() ")
    chunks = [Chunk(name, "C."), Chunk("doc 1", "A."), Chunk("doc 2", "B.")]
    assert [(m.key, m.chunk_id, m.by) for m in parse_markers(f"Foo {marker}.", chunks)] == [(name, name, "id")]


@pytest.mark.parametrize(
    "answer,ids",
    [
        (f"Foo [{SHA}].", [SHA]),
        (f"Foo [{UUID}].", [UUID]),
        ("Foo [<doc>].", ["<doc>"]),
        (f"Foo [{UUID}, 1] and [^<doc>; 9].", [UUID, SHA, "<doc>", None]),  # an id in a list of keys
        ("Foo [doc 3, doc 1].", ["doc 3", "doc 1"]),  # ids with spaces in a list
        ("Foo [x, y].", ["x, y"]),  # the whole bracket is an id: it is not cut at its comma
    ],
)
def test_ids_of_any_length_and_characters_are_read_as_markers(answer, ids):
    chunks = [Chunk(i, f"Text {n}.") for n, i in enumerate([SHA, UUID, "<doc>", "doc 3", "doc 1", "x, y", "x"])]
    markers = parse_markers(answer, chunks)
    assert [m.chunk_id for m in markers] == ids
    clean, _ = strip_markers(answer, markers)
    assert clean.startswith("Foo") and "[" not in clean


def test_a_long_list_that_is_no_marker_is_read_at_once():
    """Each item of "[1, 2, ... and so on]" reads as a number and could read as an id: a regular expression trying
    both for each would take 2^60 steps before giving up. Run apart, so that a regression fails instead of hanging."""
    code = ("from rag_attrib.markers import parse_markers; from rag_attrib.types import Chunk\n"
            f"chunks = [Chunk(str(n), 'x') for n in range(1, 10)] + [Chunk({SHA!r}, 'y'), Chunk('doc 3', 'z')]\n"
            "print(parse_markers('[' + ', '.join(str(n % 9 + 1) for n in range(60)) + ' and so on]', chunks))")
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "[]", run.stderr


def test_a_chunks_id_in_code_is_no_marker():
    assert parse_markers(f"Use `[{SHA}]` as written.", [Chunk(SHA, "Alpha text.")]) == []


@pytest.mark.parametrize("answer", [f"Alpha is first [{SHA}]. Beta is second [<b>].",
                                    f"Alpha is first. [{SHA}] Beta is second.[<b>]"])
def test_a_sentence_citing_a_long_id_is_judged_by_it(answer):
    chunks = [Chunk(SHA, "Alpha text."), Chunk("<b>", "Beta text.")]
    attributor = ScriptedAttributor({"Alpha": {SHA: 0.6}, "Beta": {"<b>": 0.6}})
    v = verify(attributor, "q?", chunks, answer)
    assert [(s.verdict, s.cited) for s in v.sentences] == [("supported", (SHA,)), ("supported", ("<b>",))]
    assert attributor.calls == ["Alpha is first. Beta is second."]


def test_attribute_keeps_a_long_id_marker_with_its_sentence_and_out_of_its_target(tiny_attributor):
    chunks = [Chunk(SHA, "Alpha text."), Chunk("<b>", "Beta text.")]
    answer = f"Alpha is first. [{SHA}] Beta is second.[<b>]"
    result = tiny_attributor.attribute("q?", chunks, answer)
    assert [s.text for s in result.sentences] == [f"Alpha is first. [{SHA}]", "Beta is second.[<b>]"]
    from rag_attrib.markers import citation_spans
    from rag_attrib.prompt import encode, render_rag_prompt

    tokenizer = byte_tokenizer()
    enc = encode(tokenizer, render_rag_prompt(tokenizer, "q?", chunks), answer, skip=citation_spans(answer, chunks))
    skipped = "".join(answer[slice(*enc.answer_offsets[t - enc.answer_start])] for t in enc.skip)
    assert skipped == f"[{SHA}][<b>]"  # the markers' tokens count in no sentence's target


def test_custom_marker_pattern():
    markers = parse_markers("Alpha (source 2).", CHUNKS, patterns=[r"\(source (\d+)\)"])
    assert [m.chunk_id for m in markers] == ["b"]


def _located(prompt: str, chunks: list[Chunk]) -> list[Span]:
    return [Span(prompt.index(c.text), prompt.index(c.text) + len(c.text)) for c in chunks]


@pytest.mark.parametrize(
    "labels,meant",
    [
        (["[1] ", "[2] "], ["lighthouse", "bakery"]),  # numbered by position, as the default prompt does: [1] = first
        (["[2] ", "[1] "], ["bakery", "lighthouse"]),  # labelled by id: [1] = the chunk whose id is "1"
        (["Source 2: ", "Source 1: "], ["bakery", "lighthouse"]),
        (["", ""], ["bakery", "lighthouse"]),  # no label to go by: the id wins, as documented
        (["Document [1]:\n", "Document [2]:\n"], ["lighthouse", "bakery"]),  # a label on a line of its own
    ],
)
def test_a_key_that_is_one_chunks_id_and_another_chunks_number_follows_the_prompts_labels(labels, meant):
    chunks = [Chunk("2", "The Quenby lighthouse was built in 1872."), Chunk("1", "Mira Tollan runs the bakery.")]
    # the question's "2" is no label: only a short last line before a chunk is
    prompt = "What do the 2 sources say?\n\n" + "\n\n".join(label + c.text for label, c in zip(labels, chunks))
    answer = "Mira Tollan runs it [1]. It was built in 1872 [2]. Both stand [doc]."
    markers = parse_markers(answer, chunks)
    assert [m.chunk_id for m in markers] == ["1", "2", None]  # the id first, before the prompt is known
    resolved = verification.by_label(markers, chunks, prompt, _located(prompt, chunks))
    name = {"2": "lighthouse", "1": "bakery"}
    assert [name[m.chunk_id] for m in resolved[:2]] == meant and resolved[2] == markers[2]
    # each marker says how it was read, so a surprising mapping can be traced
    by_number = meant == ["lighthouse", "bakery"]
    assert [m.by for m in resolved] == (["label", "label", None] if by_number else ["id", "id", None])


def test_each_marker_says_how_its_key_named_a_chunk():
    answer = "Alpha [a]. Beta [2]. Gamma [9]."
    assert [(m.key, m.chunk_id, m.by) for m in parse_markers(answer, CHUNKS)] == [
        ("a", "a", "id"), ("2", "b", "number"), ("9", None, None)]


def test_verify_reads_the_markers_by_the_default_prompts_numbers():
    """Without a prompt, verify renders the default prompt, which numbers chunks by position: [1] = first."""
    from rag_attrib.prompt import render_rag_prompt

    chunks = [Chunk("2", "Alpha text."), Chunk("1", "Beta text.")]
    rendered = render_rag_prompt(byte_tokenizer(), "q?", chunks)

    class Rendering(ScriptedAttributor):
        def attribute(self, question, chunks, answer, *, sentences=None, target=None):
            result = super().attribute(question, chunks, answer, sentences=sentences)
            return dataclasses.replace(result, prompt=rendered.text, chunk_spans=rendered.chunk_spans)

    v = verify(Rendering({"Alpha": {"2": 0.6}}), "q?", chunks, "Alpha [1].")
    assert v.sentences[0].cited == ("2",) and v.sentences[0].verdict == "supported"


# ---------------------------------------------------------------- verdicts


def test_each_verdict():
    attributor = ScriptedAttributor({
        "Alpha": {"a": 0.6, "b": 0.1},
        "Beta": {"b": 0.5, "a": 0.1},
        "Gamma": {"doc-7": 0.4},
        "Moon": {"a": 0.1, "b": 0.1, "doc-7": 0.1},
    })
    answer = "Alpha is first [1]. Beta is second [1]. Gamma is third. The Moon is cheese [2]."
    v = verify(attributor, "q?", CHUNKS, answer)
    assert [s.verdict for s in v.sentences] == ["supported", "miscited", "uncited", "ungrounded"]
    assert [s.text for s in v.sentences] == [
        "Alpha is first [1].", "Beta is second [1].", "Gamma is third.", "The Moon is cheese [2]."]
    assert v.sentences[1].cited == ("a",) and v.sentences[1].suggestion == ("b",)
    assert v.sentences[2].suggestion == ("doc-7",)
    assert v.sentences[3].suggestion == ()
    # the attributed text has no markers, but the verdicts keep them
    assert attributor.calls == ["Alpha is first. Beta is second. Gamma is third. The Moon is cheese."]
    assert v.counts() == {"supported": 1, "contradicted": 0, "miscited": 1, "uncited": 1, "ungrounded": 1}


def test_unknown_marker_is_reported_and_does_not_support():
    v = verify(ScriptedAttributor({"Alpha": {"a": 0.6}}), "q?", CHUNKS, "Alpha is first [9].")
    assert v.sentences[0].verdict == "miscited"
    assert v.sentences[0].unknown_markers == ("9",)
    assert summarize([v, v])["unknown_markers"] == {"9": 2}  # the batch summary counts them


def test_marker_only_fragment_joins_its_sentence():
    v = verify(ScriptedAttributor({"Alpha": {"a": 0.6}}), "q?", CHUNKS, "Alpha is first.\n[1]")
    assert len(v.sentences) == 1 and v.sentences[0].verdict == "supported"


def test_summary_metrics():
    attributor = ScriptedAttributor({"Alpha": {"a": 0.6, "b": 0.3}, "Beta": {"b": 0.5}, "Moon": {}})
    v = verify(attributor, "q?", CHUNKS, "Alpha [1][3]. Beta [2]. The Moon.")
    summary = summarize([v])
    # cited pairs: (Alpha,a) (Alpha,doc-7) (Beta,b) -> 2 carried; carried pairs: (Alpha,a) (Alpha,b) (Beta,b)
    assert summary["citation_precision"] == pytest.approx(2 / 3)
    assert summary["citation_recall"] == pytest.approx(2 / 3)
    assert summary["ungrounded_share"] == pytest.approx(1 / 3)
    assert summary["sentences"] == 3


def test_verification_round_trips_through_json():
    v = verify(ScriptedAttributor({"Alpha": {"a": 0.6}}), "q?", CHUNKS, "Alpha [1]. Beta.")
    again = Verification.from_dict(json.loads(json.dumps(v.to_dict())))
    assert again.sentences == v.sentences and again.answer == v.answer


def test_verify_on_the_tiny_model(tiny_attributor):
    v = verify(tiny_attributor, "Who?", CHUNKS, "Alpha text [1]. Beta text [doc-7].")
    assert len(v.sentences) == 2
    assert v.result.answer == "Alpha text. Beta text."
    assert {s.verdict for s in v.sentences} <= {"supported", "miscited", "uncited", "ungrounded"}


# ---------------------------------------------------------------- the JSONL runner


def write_input(path, n=5, bad_lines=()):
    lines = []
    for i in range(1, n + 1):
        if i in bad_lines:
            lines.append(f'{{"id": "r{i}", "answer": "no chunks"}}' if i % 2 else "{not json")
        else:
            lines.append(json.dumps({"id": f"r{i}", "question": "q?", "chunks": [c.to_dict() for c in CHUNKS],
                                     "answer": f"Alpha number {i} [1]."}))
    path.write_text("\n".join(lines) + "\n")


def test_malformed_records_become_error_records_and_the_run_goes_on(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=5, bad_lines=(2, 3))
    counts = run_local(ScriptedAttributor({"Alpha": {"a": 0.6}}), src, out, progress=False)
    assert counts == {"skipped": 0, "ok": 3, "errors": 2, "discarded": 0, "retried": 0}
    records = read_results(out)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert records[1]["ok"] is False and "line 2" in records[1]["error"] and "not valid JSON" in records[1]["error"]
    assert records[2]["ok"] is False and records[2]["id"] == "r3" and "missing chunks" in records[2]["error"]
    assert records[2]["error"].endswith("missing chunks, question (or prompt) (the record has: id, answer)")
    assert records[0]["verdicts"][0]["verdict"] == "supported"


def test_a_failing_record_is_recorded(tmp_path):
    line = json.dumps({"id": "x", "question": "q", "chunks": ["Alpha text."], "answer": "Alpha number 1."})
    record = verify_line(ScriptedAttributor({}, fail_on="number 1"), line, 7)
    assert record == {"line": 7, "id": "x", "input": None, "input_sha1": line_sha1(line), "ok": False,
                      "error": "line 7: scripted failure on 'number 1'", "error_type": "RuntimeError",
                      "error_kind": "run"}


class Interrupt(BaseException):
    """Stands for a kill: not an Exception, so the runner does not record it."""


def test_interrupted_run_resumes_without_losing_or_duplicating(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=6)

    class DiesAtRecord4(ScriptedAttributor):
        def _result(self, chunks, answer, spans, question):
            if "number 4" in answer:
                raise Interrupt()
            return super()._result(chunks, answer, spans, question)

    with pytest.raises(Interrupt):
        run_local(DiesAtRecord4({"Alpha": {"a": 0.6}}), src, out, progress=False)
    assert [r["line"] for r in read_results(out)] == [1, 2, 3]
    with open(out, "a") as f:
        f.write('{"line": 4, "id": "r4", "ok": tr')  # a write cut off by the kill
    attributor = ScriptedAttributor({"Alpha": {"a": 0.6}})
    counts = run_local(attributor, src, out, progress=False)
    assert counts == {"skipped": 3, "ok": 3, "errors": 0, "discarded": 0, "retried": 0}
    assert attributor.calls == ["Alpha number 4.", "Alpha number 5.", "Alpha number 6."]
    assert [r["line"] for r in read_results(out)] == [1, 2, 3, 4, 5, 6]
    assert run_local(never_loaded, src, out, progress=False)["skipped"] == 6  # nothing to do: no model loaded


def test_output_of_a_missing_file(tmp_path):
    assert read_output(tmp_path / "nope.jsonl").done == {}


def test_a_line_that_is_not_utf8_becomes_an_error_record(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    lines = src.read_bytes().split(b"\n")
    lines[1] = b'{"id": "r2", "answer": "caf\xe9"}'  # latin-1, not UTF-8
    src.write_bytes(b"\n".join(lines))
    counts = run_local(ScriptedAttributor({"Alpha": {"a": 0.6}}), src, out, progress=False)
    assert (counts["ok"], counts["errors"]) == (2, 1)
    records = read_results(out)
    assert records[1]["ok"] is False and "not valid UTF-8" in records[1]["error"]


def test_a_last_record_without_its_newline_is_redone_once(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    attributor = ScriptedAttributor({"Alpha": {"a": 0.6}})
    run_local(attributor, src, out, progress=False)
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # the kill came between the record and its newline
    assert read_output(out).done.keys() == {1, 2}
    assert run_local(attributor, src, out, progress=False)["ok"] == 1
    assert [r["line"] for r in read_results(out)] == [1, 2, 3]


# ---------------------------------------------------------------- what the runner refuses, and never loses


def never_loaded():
    raise AssertionError("the model was loaded before the output was checked")


def script():
    return ScriptedAttributor({"Alpha": {"a": 0.6}})


@pytest.mark.parametrize("through_a_link", [False, True])
def test_out_equal_to_the_input_is_refused_and_the_input_kept(tmp_path, through_a_link):
    src = tmp_path / "in.jsonl"
    write_input(src, n=2)
    before = src.read_bytes()
    out = src
    if through_a_link:
        out = tmp_path / "link.jsonl"
        out.symlink_to(src)
    with pytest.raises(OutputError, match="is the input file itself"):
        run_local(never_loaded, src, out, progress=False)
    assert src.read_bytes() == before


@pytest.mark.parametrize("content", [b"my notes\nmore notes\n", b"no newline at the end", b'{"a": 1}\n',
                                     b'{"line": 1, "ok": true}\nnot ours\n'])
def test_a_file_we_did_not_write_is_refused_and_left_as_it_is(tmp_path, content):
    src, out = tmp_path / "in.jsonl", tmp_path / "notes.txt"
    write_input(src, n=2)
    out.write_bytes(content)
    for restart in (False, True):
        with pytest.raises(OutputError, match="not a results file of rag-attrib verify .* left as it is"):
            run_local(never_loaded, src, out, progress=False, restart=restart)
    assert out.read_bytes() == content


def test_resumes_only_its_own_input(tmp_path):
    twelve, other, out = tmp_path / "twelve.jsonl", tmp_path / "other.jsonl", tmp_path / "k.jsonl"
    write_input(twelve, n=12)
    other.write_text("".join(json.dumps({"id": f"o{i}", "question": "q?", "chunks": ["Alpha text."],
                                         "answer": f"Beta {i}."}) + "\n" for i in range(14)))
    run_local(script(), twelve, out, progress=False)
    before = out.read_bytes()
    with pytest.raises(OutputError, match=f"{out} holds the results of {twelve}, not of {other}.*--restart"):
        run_local(never_loaded, other, out, progress=False)
    assert out.read_bytes() == before

    # records appended to the input are done next; a copy of the input resumes too
    with open(twelve, "a") as f:
        f.write(json.dumps({"question": "q?", "chunks": ["Alpha text."], "answer": "Alpha number 13."}) + "\n")
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(twelve.read_bytes())
    attributor = script()
    assert run_local(attributor, copy, out, progress=False)["skipped"] == 12 and attributor.calls == ["Alpha number 13."]

    # a record already done that changed is detected
    lines = twelve.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace("number 5", "number five")
    twelve.write_text("".join(lines))
    with pytest.raises(OutputError, match=f"{twelve} changed since .*1 of the 13 lines verified differ, the first is line 5"):
        run_local(never_loaded, twelve, out, progress=False)

    # --restart starts over from the given input, and says how many records it dropped
    counts = run_local(script(), other, out, progress=False, restart=True)
    assert counts["discarded"] == 13 and (counts["skipped"], counts["ok"]) == (0, 14)
    assert [r["input"] for r in read_results(out)] == [str(other)] * 14


def test_a_second_run_on_the_same_output_is_refused(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    refusals = []

    class StartsASecondRun(ScriptedAttributor):
        def _result(self, chunks, answer, spans, question):
            if not refusals:
                with pytest.raises(OutputError, match=f"another run \\(pid {os.getpid()} on .*\\) is writing to"):
                    run_local(script(), src, out, progress=False)
                refusals.append(answer)
            return super()._result(chunks, answer, spans, question)

    assert run_local(StartsASecondRun({"Alpha": {"a": 0.6}}), src, out, progress=False)["ok"] == 3
    assert refusals and [r["line"] for r in map(json.loads, out.read_text().splitlines())] == [1, 2, 3]


def test_the_lock_file_goes_when_the_run_ends(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=2)
    run_local(script(), src, out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_a_lock_file_removed_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    """The run that ends removes its lock file; one that opened it just before must lock the new file."""
    import fcntl

    from rag_attrib import batch

    path, real_flock, attempts = tmp_path / ".out.lock", fcntl.flock, []

    def flock(handle, op):
        if op & fcntl.LOCK_EX:
            attempts.append(op)
            if len(attempts) == 1:  # the run holding it ends right now, removing the file we opened
                path.unlink()
        return real_flock(handle, op)

    monkeypatch.setattr(batch.fcntl, "flock", flock)
    with batch.locked(path, tmp_path / "out"):
        assert len(attempts) == 2  # the orphaned file was dropped and the new one locked
        assert f"pid {os.getpid()}" in path.read_text()
    assert not path.exists()


def test_readers_keep_one_record_per_line_and_count_the_duplicates(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    run_local(script(), src, out, progress=False)
    lines = out.read_text().splitlines(keepends=True)
    failed = json.dumps({**json.loads(lines[1]), "ok": False, "error": "line 2: x", "error_kind": "run"}) + "\n"
    out.write_text("".join(lines + lines[:1] + [failed]))  # two runs wrote lines 1 and 2 twice
    records = read_results(out)
    assert [r["line"] for r in records] == [1, 2, 3] and records.duplicates == 2
    assert records[1]["ok"]  # the ok record wins over the error record
    counts = run_local(script(), src, out, progress=False, retry_errors=True)
    assert (counts["skipped"], counts["retried"], counts["ok"]) == (3, 0, 0)


def test_retry_errors_redoes_run_errors_only_without_duplicates(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=4, bad_lines=(3,))
    run_local(ScriptedAttributor({"Alpha": {"a": 0.6}}, fail_on="number 2"), src, out, progress=False)
    kinds = {r["line"]: r.get("error_kind") for r in read_results(out)}
    assert kinds == {1: None, 2: "run", 3: "input", 4: None}
    attributor = script()
    assert run_local(attributor, src, out, progress=False)["skipped"] == 4 and attributor.calls == []
    counts = run_local(attributor, src, out, progress=False, retry_errors=True)
    assert (counts["retried"], counts["skipped"], counts["ok"]) == (1, 3, 1) and attributor.calls == ["Alpha number 2."]
    raw = [json.loads(line)["line"] for line in out.read_text().splitlines()]
    assert sorted(raw) == [1, 2, 3, 4]  # the old error record of line 2 is gone from the file
    assert [r["ok"] for r in read_results(out)] == [True, True, False, True]

    lines = src.read_text().splitlines(keepends=True)  # the malformed record fixed: it is done again
    lines[2] = json.dumps({"question": "q?", "chunks": ["Alpha text."], "answer": "Alpha fixed."}) + "\n"
    src.write_text("".join(lines))
    counts = run_local(attributor, src, out, progress=False)
    assert (counts["retried"], counts["ok"]) == (1, 1) and attributor.calls[-1] == "Alpha fixed."
    assert [r["ok"] for r in read_results(out)] == [True, True, True, True] and read_results(out).duplicates == 0


@pytest.mark.parametrize("record,message", [
    ({"question": "q?", "chunks": 5, "answer": "A."},
     'line 1: chunks must be a list (of strings or {"id", "text"} objects), got 5'),
    ({"question": "q?", "chunks": "Alpha text.", "answer": "A."},
     ('line 1: chunks must be a list (of strings or {"id", "text"} objects), got "Alpha text."; one chunk is written '
      '["its text"]')),
    ({"question": "q?", "chunks": ["x"], "answer": 7}, "line 1: answer must be a string, got 7"),
    ({"question": ["q"], "chunks": ["x"], "answer": "A."}, 'line 1: question must be a string, got ["q"]'),
])
def test_record_type_errors_name_their_line(record, message):
    result = verify_line(script(), json.dumps(record), 1)
    assert (result["ok"], result["error"], result["error_kind"]) == (False, message, "input")


def test_a_write_that_fails_is_one_error_and_keeps_what_was_written(tmp_path, monkeypatch):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, n=3)
    fsyncs = []

    def full_disk(fd):
        fsyncs.append(fd)
        if len(fsyncs) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr("rag_attrib.batch.os.fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device; the 1 records written this time are kept"):
        run_local(script(), src, out, progress=False)
