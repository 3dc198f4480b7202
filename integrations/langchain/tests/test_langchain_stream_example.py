"""examples/langchain_stream.py: the answer streams to the terminal with each sentence's citations written after
the sentence's last token, and the streamed citations equal the batch attribution of the finished answer."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import test_langchain_citations
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from rag_attrib_langchain import RunCitations, with_citations

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "langchain_stream.py"
tiny_attributor = test_langchain_citations.tiny_attributor  # the fixture


@pytest.fixture(scope="module")
def example() -> dict:
    return runpy.run_path(str(EXAMPLE))


def streamed(example: dict, chat_model, attributor, question: str) -> tuple[RunCitations, list[str]]:
    writes: list[str] = []
    record = example["stream_with_citations"](example["build_chain"](chat_model), attributor, question, writes.append)
    return record, writes


def check_order_and_batch(example: dict, record: RunCitations, writes: list[str], attributor, chat_model,
                          question: str) -> None:
    """Each citation line comes after the text holding its sentence's last character; the result is the batch's."""
    result = record.result
    answer_so_far = ""
    lines = iter(result.sentences)
    for written in writes[1:]:
        if written.startswith("\n   ["):
            sentence = next(lines)
            assert repr(sentence.text) in written and len(answer_so_far) >= sentence.span.end
        else:
            answer_so_far += written
    assert answer_so_far == result.answer and next(lines, None) is None
    batch = with_citations(example["build_chain"](chat_model), attributor).invoke(question)["citations"]
    assert [s["text"] for s in batch["sentences"]] == [s.text for s in result.sentences]
    assert [s["cited"] for s in batch["sentences"]] == [list(s.cited) for s in result.sentences]
    for mine, theirs in zip(result.sentences, batch["sentences"]):
        assert [c.share for c in mine.citations] == pytest.approx([c["share"] for c in theirs["citations"]], abs=1e-5)


def test_a_fake_streaming_model_answer_is_cited_sentence_by_sentence(example, tiny_attributor):
    question = "Where does the ferry to Quenby leave from?"

    def chat_model():
        return GenericFakeChatModel(messages=iter([AIMessage(content=example["FAKE_ANSWER"])]))

    record, writes = streamed(example, chat_model(), tiny_attributor, question)
    assert record.error is None and len(record.result.sentences) == 2
    check_order_and_batch(example, record, writes, tiny_attributor, chat_model(), question)
    first_line = next(i for i, w in enumerate(writes) if w.startswith("\n   [1]"))
    assert first_line < len(writes) - 5  # the first sentence's citations arrived while the answer was streaming


@pytest.mark.slow
def test_smollm2_streams_its_own_answer_with_citations(example):
    from rag_attrib import Attributor

    smollm2 = Attributor.load("smollm2")
    question = "Who runs the bakery, and where does the ferry leave from?"
    model = example["StreamingLocalChatModel"](model=smollm2.model, tokenizer=smollm2.tokenizer)
    record, writes = streamed(example, model, smollm2, question)
    assert record.error is None and record.result.sentences
    check_order_and_batch(example, record, writes, smollm2, model, question)
