"""Inputs a careless user types: refused with a clear error, or normalised the same way everywhere.

Each case was reproduced on the code before the fix (issue: inputs that are refused, not misread).
"""

from __future__ import annotations

import pytest

from rag_attrib.errors import (
    AmbiguousChunkError,
    ChunkNotFoundError,
    EmptyAnswerError,
    InvalidChunksError,
    InvalidInputError,
    RagAttribError,
)
from rag_attrib.text import locate_chunks
from rag_attrib.types import Chunk, Span, as_chunks
from rag_attrib.verification import verify

CHUNKS = ["The Quenby lighthouse was built in 1872.", "Quenby's bakery is run by Mira Tollan."]


# ------------------------------------------------------------------------------------------------ chunks


@pytest.mark.parametrize("chunks", ["Mira", b"Mira", {"text": "Mira"}, 7, None])
def test_chunks_that_are_not_a_list_are_refused(chunks):
    with pytest.raises(InvalidChunksError, match="chunks must be a list"):
        as_chunks(chunks)


def test_a_single_string_says_it_would_be_read_letter_by_letter(tiny_attributor):
    with pytest.raises(InvalidChunksError, match="letter by letter"):
        tiny_attributor.attribute("Who runs the bakery?", "Mira", "Mira.")


@pytest.mark.parametrize("text", [None, 42, ["a"]])
def test_chunk_text_must_be_a_string(text):
    with pytest.raises(InvalidChunksError, match="text must be a string"):
        as_chunks([{"id": "a", "text": text}])
    with pytest.raises(InvalidChunksError, match="text must be a string"):
        Chunk("a", text)


def test_chunk_ids_are_normalised_the_same_everywhere():
    # a null or missing id becomes the chunk's number, as for plain strings; an int id becomes its string
    chunks = as_chunks([{"id": None, "text": "x"}, {"text": "y"}, {"id": 7, "text": "z"}, "w"])
    assert [c.id for c in chunks] == ["1", "2", "7", "4"]
    assert Chunk(7, "z").id == "7" and Chunk.from_dict({"id": 7, "text": "z"}).id == "7"


@pytest.mark.parametrize("chunk_id", [None, 1.5, True, ""])
def test_bad_chunk_ids_are_refused(chunk_id):
    with pytest.raises(InvalidChunksError, match="chunk id"):
        Chunk(chunk_id, "text")


def test_every_input_error_is_a_rag_attrib_error():
    for err in (InvalidChunksError, ChunkNotFoundError, AmbiguousChunkError, EmptyAnswerError, InvalidInputError):
        assert issubclass(err, RagAttribError) and issubclass(err, ValueError)


# ------------------------------------------------------------------------------ locating chunks in a prompt


def test_a_chunk_also_named_in_the_question_lands_in_the_context():
    prompt = "Question: Where is Ardel?\n\nSources:\nArdel\nThe ferry leaves from the port of Ardel.\n"
    spans = locate_chunks(prompt, [Chunk("a", "Ardel"), Chunk("b", "The ferry leaves from the port of Ardel.")])
    assert spans[0].of(prompt) == "Ardel" and spans[0].start == prompt.index("Sources:") + len("Sources:\n")
    assert spans[1].of(prompt) == "The ferry leaves from the port of Ardel."


def test_a_short_chunk_inside_a_longer_one_is_not_reported_missing():
    # the short chunk's text first occurs inside the longer chunk; both are in the prompt on their own
    prompt = "[1] Mira Tollan runs the bakery.\n[2] Mira Tollan\n"
    spans = locate_chunks(prompt, [Chunk("short", "Mira Tollan"), Chunk("long", "Mira Tollan runs the bakery.")])
    assert spans == [Span(prompt.index("[2]") + 4, prompt.index("[2]") + 15), Span(4, 32)]


def test_a_chunk_that_occurs_twice_with_nothing_to_decide_is_ambiguous():
    prompt = "Example: Ardel.\nContext: Ardel.\n"
    with pytest.raises(AmbiguousChunkError, match=r"'a'.*occurs 2 times.*characters 9, 25"):
        locate_chunks(prompt, [Chunk("a", "Ardel.")])
    with pytest.raises(ChunkNotFoundError):  # callers that catch ChunkNotFoundError see it too
        locate_chunks(prompt, [Chunk("a", "Ardel.")])


def test_every_chunk_missing_from_the_prompt_is_named_at_once():
    with pytest.raises(ChunkNotFoundError, match=r"chunk 'b' .*does not occur.*; nor are 2 more chunks: 'c', 'd'$"):
        locate_chunks("Context: Alpha text. Q?", [Chunk("a", "Alpha text."), Chunk("b", "Beta."),
                                                  Chunk("c", "Gamma is longer."), Chunk("d", "Delta.")])


def test_one_text_retrieved_twice_under_two_ids_takes_its_occurrences_in_order():
    prompt = "Sources:\n[1] Ardel has a ferry.\n[2] Ardel has a ferry.\nQuestion: ferry?"
    chunks = [Chunk("a", "Ardel has a ferry."), Chunk("b", "Ardel has a ferry.")]
    first, second = prompt.index("[1]") + 4, prompt.index("[2]") + 4
    assert locate_chunks(prompt, chunks) == [Span(first, first + 18), Span(second, second + 18)]
    with pytest.raises(AmbiguousChunkError):  # one copy passed, two in the prompt: still no guess
        locate_chunks(prompt, chunks[:1])


def test_attribute_prompt_places_the_chunk_in_the_context(tiny_attributor):
    chunks = [Chunk("port", "Ardel"), Chunk("ferry", "The ferry sails to Quenby six times a day.")]
    prompt = "Question: How often does the ferry from Ardel sail?\nContext:\nArdel\n" + chunks[1].text + "\nAnswer:"
    result = tiny_attributor.attribute_prompt(prompt, chunks, answer="Six times a day.")
    assert result.chunk_spans[0].start == prompt.index("Context:\n") + len("Context:\n")


# ----------------------------------------------------------------------------------------------- answers


@pytest.mark.parametrize("answer", ["[1] [2]", "[1][2].", " [doc-7] "])
def test_an_answer_of_only_markers_is_refused_alike_by_attribute_and_verify(tiny_attributor, answer):
    with pytest.raises(EmptyAnswerError, match="only citation markers") as by_attribute:
        tiny_attributor.attribute("Who runs the bakery?", CHUNKS, answer)
    with pytest.raises(EmptyAnswerError, match="only citation markers") as by_verify:
        verify(tiny_attributor, "Who runs the bakery?", CHUNKS, answer)
    assert str(by_attribute.value) == str(by_verify.value)


def test_an_empty_answer_says_what_to_pass_where_it_was_given(tiny_attributor, tmp_path, capsys):
    with pytest.raises(EmptyAnswerError, match="or answer=None to let the local model answer"):
        tiny_attributor.attribute("Who runs the bakery?", CHUNKS, "  ")
    with pytest.raises(EmptyAnswerError) as by_verify:  # verify checks a written answer: None is no option there
        verify(tiny_attributor, "Who runs the bakery?", CHUNKS, "  ")
    assert "answer=None" not in str(by_verify.value)
    from rag_attrib.cli import main

    chunks, empty = tmp_path / "chunks.json", tmp_path / "answer.txt"
    chunks.write_text('["Mira Tollan runs the bakery."]')
    empty.write_text("\n")
    for given in (["--answer", ""], ["--answer-file", str(empty)]):
        assert main(["attribute", "--chunks", str(chunks), "--question", "Who?", *given]) == 2
        err = capsys.readouterr().err
        assert "leave out --answer and --answer-file to let the local model answer" in err and "answer=None" not in err


INVISIBLE = ["\u200b\u200b", "\ufeff", " \u200d\u2060\n\u00ad ", "\u200e\u200f\t"]


@pytest.mark.parametrize("answer", INVISIBLE)
def test_an_answer_of_only_invisible_characters_is_refused_as_empty(tiny_attributor, answer):
    with pytest.raises(EmptyAnswerError, match="empty"):
        tiny_attributor.attribute("Who runs the bakery?", CHUNKS, answer)
    with pytest.raises(EmptyAnswerError, match="empty"):
        tiny_attributor.attribute_prompt("Context: " + " ".join(CHUNKS), CHUNKS, answer)
    with pytest.raises(EmptyAnswerError, match="empty"):
        verify(tiny_attributor, "Who runs the bakery?", CHUNKS, answer)
    with pytest.raises(EmptyAnswerError, match="only citation markers"):
        verify(tiny_attributor, "Who runs the bakery?", CHUNKS, answer + "[1]" + answer)


def test_an_invisible_answer_is_an_input_error_in_a_batch_and_on_the_command_line(tiny_attributor, tmp_path, capsys):
    import json

    from rag_attrib.batch import verify_line
    from rag_attrib.cli import main

    line = json.dumps({"question": "Who?", "chunks": CHUNKS, "answer": "\u200b\ufeff"})
    record = verify_line(tiny_attributor, line, 1)
    assert not record["ok"] and record["error_kind"] == "input" and record["error_type"] == "EmptyAnswerError"
    chunks = tmp_path / "chunks.json"
    chunks.write_text(json.dumps(CHUNKS))
    assert main(["attribute", "--chunks", str(chunks), "--question", "Who?", "--answer", "\u200b"]) == 2
    assert "--answer is empty" in capsys.readouterr().err  # refused before a model loads


def test_attributor_load_takes_the_models_name_first_not_as_model(tiny_attributor):
    from rag_attrib import Attributor

    with pytest.raises(InvalidInputError, match=r"pass its name or path first, Attributor.load\('smollm2'\)"):
        Attributor.load(model="smollm2")
    with pytest.raises(TypeError, match="use Attributor\\(model, tokenizer\\)"):
        Attributor.load(model=tiny_attributor.model, tokenizer=tiny_attributor.tokenizer)


# --------------------------------------------------------------------------------------------- min_share


@pytest.mark.parametrize("min_share", [-0.1, 1.5, float("nan"), "0.3", True])
def test_min_share_outside_0_1_is_refused(tiny_attributor, min_share):
    from rag_attrib import Attributor

    with pytest.raises(InvalidInputError, match=r"min_share must be a number in \[0, 1\]"):
        Attributor(tiny_attributor.model, tiny_attributor.tokenizer, min_share=min_share)
    with pytest.raises(InvalidInputError, match=r"min_share must be a number in \[0, 1\]"):
        verify(tiny_attributor, "Who runs the bakery?", CHUNKS, "Mira Tollan.", min_share=min_share)


def test_an_empty_question_is_an_input_error(tiny_attributor):
    with pytest.raises(InvalidInputError, match="question"):
        tiny_attributor.attribute("  ", CHUNKS, "Mira Tollan.")


@pytest.mark.parametrize("text,said", [
    ("out1.json", "not JSON (Expecting value) (it looks like a path: pass a pathlib.Path)"),
    ("", "not JSON (Expecting value)"),
    (b"xx", "not JSON"),
    ("[]", "a JSON list, not an object"),
    ('{"verdicts": []}', "a verify record: read it with Verification.from_dict"),
])
def test_reading_something_else_as_a_result_says_what_it_is(text, said):
    from rag_attrib import AttributionResult, RagAttribError

    with pytest.raises(RagAttribError, match="not a rag_attrib result") as caught:
        AttributionResult.from_json(text)
    assert said in str(caught.value)


def test_a_result_reads_from_a_path_too(tiny_attributor, tmp_path):
    from rag_attrib import AttributionResult

    result = tiny_attributor.attribute("Who runs the bakery?", CHUNKS, "Mira Tollan runs it.")
    (tmp_path / "r.json").write_text(result.to_json())
    assert AttributionResult.from_json(tmp_path / "r.json").to_dict() == result.to_dict()


def test_invalid_input_error_is_exported():
    import rag_attrib

    assert issubclass(rag_attrib.EmptyAnswerError, rag_attrib.InvalidInputError)


def test_a_chunk_with_id_and_text_swapped_is_warned_about():
    with pytest.warns(UserWarning, match=r"the arguments are Chunk\(id, text\)"):
        Chunk("The bakery is run by Mira Tollan.", "bakery")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Chunk("Doc 1 of the handbook", "A passage of a few words.")  # an id with spaces is fine
