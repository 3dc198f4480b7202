"""A streaming query engine with the postprocessor: each sentence's citations while the caller reads the stream,
and the response complete, as without streaming, once the stream is drained (sync and async)."""

from __future__ import annotations

import asyncio
import logging

from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from rag_attrib_llamaindex import AttributionPostprocessor

QUESTION = "Who runs the bakery in Quenby?"
ANSWER = "Mira Tollan runs the bakery. It sells a honey bread called tollencake. Mira bakes it daily."


def make_engine(index, attributor, llm, streaming=True, **kwargs):
    return index.as_query_engine(llm=llm, similarity_top_k=3, streaming=streaming,
                                 node_postprocessors=[AttributionPostprocessor(attributor, **kwargs)])


def scores(response):
    return [(n.node.node_id, n.score, n.node.metadata["retrieval_score"]) for n in response.source_nodes]


def test_citations_grow_while_the_stream_is_read_and_are_complete_when_drained(quenby_index, attributor,
                                                                              scripted_llm):
    llm = scripted_llm(answers={QUESTION: ANSWER})
    response = make_engine(quenby_index, attributor, llm).query(QUESTION)
    assert isinstance(response, StreamingResponse) and response.metadata["citations"] == []

    text, seen = "", []
    for piece in response.response_gen:
        text += piece
        seen.append((text, len(response.metadata["citations"])))
    assert text == ANSWER
    first = next(t for t, n in seen if n == 1)  # the first sentence's citations, before the answer ended
    assert first == "Mira Tollan runs the bakery. It sells"  # two words of the next sentence (one per piece)
    assert next(t for t, n in seen if n == 2) == ANSWER[: ANSWER.index("Mira bakes") + len("Mira bakes")]

    batch = make_engine(quenby_index, attributor, llm, streaming=False).query(QUESTION)
    assert response.metadata["citations"] == batch.metadata["citations"]
    assert [c["cited"] for c in response.metadata["citations"]] == [["bakery"]] * 3
    assert {k: v for k, v in response.metadata["attribution"].items()} == batch.metadata["attribution"]
    assert scores(response) == scores(batch)


def test_the_async_stream_is_attributed_alike(quenby_index, attributor, scripted_llm):
    llm = scripted_llm(answers={QUESTION: ANSWER})
    engine = make_engine(quenby_index, attributor, llm)

    async def run():
        response = await engine.aquery(QUESTION)
        counts = []
        async for _ in response.async_response_gen():
            counts.append(len(response.metadata["citations"]))
        return response, counts

    response, counts = asyncio.run(run())
    assert isinstance(response, AsyncStreamingResponse) and response.response_txt == ANSWER
    assert counts[0] == 0 and 0 < counts[-2] < 3  # sentences arrive while the stream is read
    assert [c["cited"] for c in response.metadata["citations"]] == [["bakery"]] * 3
    assert response.metadata["attribution"]["error"] is None


def test_each_sentence_goes_to_the_hook_as_it_is_settled(quenby_index, attributor, scripted_llm):
    seen = []
    llm = scripted_llm(answers={QUESTION: ANSWER})
    response = make_engine(quenby_index, attributor, llm, on_sentence=seen.append).query(QUESTION)
    text = "".join(response.response_gen)
    assert [s["text"] for s in seen] == ["Mira Tollan runs the bakery.", "It sells a honey bread called tollencake."]
    assert all(text[slice(*s["span"])] == s["text"] for s in seen)


class OnlyAtTheEnd:
    """An attributor that cannot stream: the whole answer is attributed once the stream is drained."""

    def __init__(self, attributor):
        self.attributor = attributor

    def attribute_prompt(self, *args, **kwargs):
        return self.attributor.attribute_prompt(*args, **kwargs)


class BrokenStream(OnlyAtTheEnd):
    def open_stream(self, *args, **kwargs):
        return self

    def feed(self, piece):
        raise RuntimeError("the stream broke")


def test_an_attributor_that_cannot_stream_or_fails_midway_still_completes_the_response(quenby_index, attributor,
                                                                                       scripted_llm, caplog):
    llm = scripted_llm(answers={QUESTION: ANSWER})
    for stand_in in (OnlyAtTheEnd(attributor), BrokenStream(attributor)):
        with caplog.at_level(logging.WARNING, logger="rag_attrib_llamaindex"):
            response = make_engine(quenby_index, stand_in, llm).query(QUESTION)
            assert str(response) == ANSWER
        assert response.metadata["attribution"]["error"] is None
        assert [c["cited"] for c in response.metadata["citations"]] == [["bakery"]] * 3
    assert "the stream broke" in caplog.text


def test_a_failing_attribution_never_breaks_the_stream(quenby_index, scripted_llm):
    class Broken:
        def open_stream(self, *args, **kwargs):
            raise RuntimeError("no model")

        attribute_prompt = open_stream

    response = make_engine(quenby_index, Broken(), scripted_llm(answers={QUESTION: ANSWER})).query(QUESTION)
    assert str(response) == ANSWER
    assert response.metadata["attribution"]["error"] == {"type": "RuntimeError", "message": "no model"}
