"""Citations while a LangChain answer streams: the chain's chunks unchanged, each sentence's citations after
its last token, the same result as the batch attribution, and failures that never break the stream."""

from __future__ import annotations

import asyncio
import logging

import pytest
import test_langchain_citations
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from rag_attrib_langchain import (
    CITATION_EVENT,
    CitationCallbackHandler,
    RunCitations,
    SentenceCitations,
    with_citations,
)
from test_langchain_citations import SpyAttributor, rag_chain

from rag_attrib.types import AttributionResult

tiny_attributor = test_langchain_citations.tiny_attributor  # the fixture

QUESTION = "Who runs the bakery?"
ANSWER = "The bakery is run by Mira Tollan. It sells a honey bread called tollencake. The ferry leaves from Ardel."


def streaming_chat() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=ANSWER)] * 3))


class StreamingSpy(SpyAttributor):
    """A real Attributor that streams, and records what it was asked."""

    def open_stream(self, question=None, chunks=(), *, prompt=None, target=None):
        self.calls.append({"stream": prompt, "chunks": list(chunks), "question": question})
        return self.attributor.open_stream(question, chunks, prompt=prompt, target=target)


def check_order(items: list) -> tuple[list[SentenceCitations], RunCitations]:
    """Every sentence's citations come after the chunk holding its last character; the record comes last."""
    text, events = "", []
    for item in items[:-1]:
        if isinstance(item, SentenceCitations):
            assert len(text) >= item.sentence.span.end and item.sentence.span.of(text) == item.sentence.text
            events.append(item)
        else:
            assert isinstance(item, str)
            text += item
    assert text == ANSWER and isinstance(items[-1], RunCitations)
    return events, items[-1]


def assert_like_batch(result: AttributionResult, batch: AttributionResult) -> None:
    assert result.answer == batch.answer and result.prompt == batch.prompt
    for a, b in zip(result.sentences, batch.sentences, strict=True):
        assert (a.text, a.span, a.cited) == (b.text, b.span, b.cited)
        assert [c.chunk_id for c in a.citations] == [c.chunk_id for c in b.citations]
        assert [c.share for c in a.citations] == pytest.approx([c.share for c in b.citations], abs=1e-5)


def test_stream_interleaves_each_sentences_citations_with_the_chains_chunks(tiny_attributor):
    spy = StreamingSpy(tiny_attributor)
    plain = list(rag_chain(streaming_chat()).stream(QUESTION))
    items = list(with_citations(rag_chain(streaming_chat()), spy).stream(QUESTION))

    assert [i for i in items if isinstance(i, str)] == plain  # the chain's own chunks, unchanged
    events, record = check_order(items)
    result = record.result
    assert [e.index for e in events] == [0, 1, 2]
    assert [e.sentence for e in events[:2]] == list(result.sentences[:2])  # settled while streaming
    assert items.index(events[0]) < items.index(events[1]) < len(items) - 2  # not all at the end
    assert events[2].sentence == result.sentences[2]  # settled by the answer's end
    assert len([c for c in spy.calls if "stream" in c]) == 1 and not [c for c in spy.calls if "answer" in c]
    prompt = spy.calls[0]["stream"]
    assert_like_batch(result, tiny_attributor.attribute_prompt(prompt, spy.calls[0]["chunks"], ANSWER,
                                                               question=QUESTION))
    data = events[0].to_dict()
    assert data["text"] == result.sentences[0].text and data["span"] == [0, len(result.sentences[0].text)]
    assert data == {"run_id": str(record.run_id), "index": 0, **record.to_dict()["sentences"][0]}
    assert {"chunk_id", "score", "share", "evidence"} <= set(data["citations"][0])


def test_astream_and_astream_events_carry_the_same_sentences(tiny_attributor):
    cited = with_citations(rag_chain(streaming_chat()), tiny_attributor)

    async def run():
        items = [item async for item in cited.astream(QUESTION)]
        custom = [e async for e in cited.astream_events(QUESTION, version="v2") if e["event"] == "on_custom_event"]
        return items, custom

    items, custom = asyncio.run(run())
    events, record = check_order(items)
    assert [e.sentence for e in events] == list(record.result.sentences)
    assert [c["name"] for c in custom] == [CITATION_EVENT] * 3
    assert [c["data"]["text"] for c in custom] == [s.text for s in record.result.sentences]
    assert [c["data"]["cited"] for c in custom] == [list(s.cited) for s in record.result.sentences]


def test_the_handler_hands_each_sentence_to_its_hook_as_the_answer_streams(tiny_attributor):
    seen: list[tuple[SentenceCitations, int]] = []
    chunks: list[str] = []
    handler = CitationCallbackHandler(tiny_attributor, on_sentence=lambda event: seen.append((event, len(chunks))))
    for chunk in rag_chain(streaming_chat()).stream(QUESTION, config={"callbacks": [handler]}):
        chunks.append(chunk)  # noqa: PERF402 (one at a time: the hook reads how many have come)

    result = handler.latest.result
    assert [event.sentence for event, _ in seen] == list(result.sentences)
    assert all(event.run_id == handler.latest.run_id for event, _ in seen)
    text_before = ["".join(chunks[:n]) for _, n in seen]  # the chunks the chain had yielded at the hook's call
    assert len(text_before[0]) < len(ANSWER)  # the first sentence arrived while the answer was being written
    assert all(ANSWER.index(e.sentence.text) + len(e.sentence.text) <= len(t) + len(c)
               for (e, _), t, c in zip(seen, text_before, chunks))


class BrokenStreamer:
    """Streams nothing: opening a stream fails the way a bug would; the run's end attributes as before."""

    def __init__(self, attributor):
        self.attributor = attributor

    def open_stream(self, *args, **kwargs):
        raise RuntimeError("the stream broke")

    def attribute_prompt(self, *args, **kwargs):
        return self.attributor.attribute_prompt(*args, **kwargs)


class BrokenEverything(BrokenStreamer):
    def attribute_prompt(self, *args, **kwargs):
        raise RuntimeError("the attributor broke")


def test_a_failing_stream_never_breaks_the_chain_and_the_end_still_attributes(tiny_attributor, caplog):
    plain = list(rag_chain(streaming_chat()).stream(QUESTION))
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        items = list(with_citations(rag_chain(streaming_chat()), BrokenStreamer(tiny_attributor)).stream(QUESTION))
    assert items[:-1] == plain and "the stream broke" in caplog.text
    assert items[-1].result.sentences[0].text == "The bakery is run by Mira Tollan."

    items = list(with_citations(rag_chain(streaming_chat()), BrokenEverything(tiny_attributor)).stream(QUESTION))
    assert items[:-1] == plain and items[-1].error == "RuntimeError: the attributor broke"


def test_a_failing_hook_never_breaks_the_chain(tiny_attributor, caplog):
    def hook(event):
        raise ValueError("my hook broke")

    handler = CitationCallbackHandler(tiny_attributor, on_sentence=hook)
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        chunks = list(rag_chain(streaming_chat()).stream(QUESTION, config={"callbacks": [handler]}))
    assert "".join(chunks) == ANSWER and handler.latest.result is not None and "my hook broke" in caplog.text
