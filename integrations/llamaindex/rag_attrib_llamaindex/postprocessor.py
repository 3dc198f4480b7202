"""``AttributionPostprocessor``: per-sentence citations and attribution scores on a query engine's response.

A node postprocessor runs before the answer exists, so it only asks for its query to be watched; the
attribution happens when LlamaIndex reports the query's end (``QueryEndEvent``), from the prompt and answer
of the query's final LLM call, and is written onto the response before ``query()`` returns. A streaming
response (``streaming=True``) has no answer yet at that point: its generator is wrapped, and each sentence is
attributed as soon as it is settled while the caller reads the stream (``rag_attrib.stream``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation.events.query import QueryEndEvent
from llama_index.core.instrumentation.span import active_span_id
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle

from rag_attrib import AttributionResult, Chunk, ChunkNotFoundError, NoChunksError, RagAttribError
from rag_attrib.errors import ResponseNotAttributableError
from rag_attrib.text import find_text
from rag_attrib.types import AttributorLike

from .capture import LLMCall, llm_calls_starting, query_watcher

log = logging.getLogger(__name__)

CITATIONS_KEY = "citations"
ATTRIBUTION_KEY = "attribution"
RETRIEVAL_SCORE_KEY = "retrieval_score"

class AttributionPostprocessor(BaseNodePostprocessor):
    """Cites the source nodes in every sentence of the answer, by AttnLRP on a local model (rag_attrib).

    Add it to a query engine's ``node_postprocessors``, anywhere in the list: it attributes the response's
    source nodes, whatever postprocessors follow it. After ``query()``/``aquery()`` the response holds
    ``metadata["citations"]`` (one entry per sentence), each source node's ``score`` is its attribution score
    (mean share over the sentences; None for a node the final LLM call did not see), ``source_nodes`` are
    sorted by it, best first (as a reranker leaves them; unattributed nodes last, in retrieval order), and
    ``node.metadata["retrieval_score"]`` keeps the retriever's score.
    A failure never breaks the query: it is logged and recorded in ``metadata["attribution"]["error"]``.

    With ``streaming=True`` the response's generator is wrapped: ``metadata["citations"]`` grows by one sentence as
    soon as the text read so far settles it (each also handed to ``on_sentence``), and when the generator is
    drained everything above is written as for a response that did not stream. (``aquery`` alike.)
    """

    attributor: Any = Field(exclude=True, description="The rag_attrib.Attributor whose local model scores answers.")
    on_sentence: Any = Field(default=None, exclude=True, description=(
        "Called with each sentence's entry of metadata['citations'] as soon as a streamed answer settles it."))

    def __init__(self, attributor: Any = None, **kwargs: Any) -> None:
        if attributor is None:
            from rag_attrib import Attributor

            attributor = Attributor.load()
        elif not callable(getattr(attributor, "attribute_prompt", None)):
            raise TypeError(
                f"attributor must be a rag_attrib.Attributor, got {type(attributor).__name__}; create one with "
                "rag_attrib.Attributor.load() (or leave it out to load the embedded model)"
            )
        super().__init__(attributor=attributor, **kwargs)
        query_watcher()  # attach to LlamaIndex's instrumentation now, before the first query starts

    @classmethod
    def class_name(cls) -> str:
        return "AttributionPostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        """Passes the nodes through unchanged and has the current query attributed when it ends."""
        if not query_watcher().watch(active_span_id.get(), self._attribute_response):
            log.warning(
                "AttributionPostprocessor ran outside a query engine's query()/aquery(), so no response will be "
                "attributed; use it in a query engine's node_postprocessors"
            )
        return nodes

    def _attribute_response(self, event: QueryEndEvent, calls: list[LLMCall], open_calls: list[LLMCall]) -> None:
        query = event.query
        question = query.query_str if isinstance(query, QueryBundle) else str(query)
        if isinstance(event.response, (StreamingResponse, AsyncStreamingResponse)):
            attach_streamed_attribution(self.attributor, event.response, question, calls + open_calls[-1:],
                                        self.on_sentence)
        else:
            attach_attribution(self.attributor, event.response, question, calls)


def attach_attribution(attributor: AttributorLike, response: Any, question: str | None, calls: Sequence[LLMCall]) -> None:
    """Write citations and attribution scores onto ``response``; a failure is logged and recorded, not raised."""
    if response.metadata is None:
        response.metadata = {}
    try:
        _check_attributable(response, calls)
        final = calls[-1]
        chunks, unattributed = chunks_in_final_prompt([n.node for n in response.source_nodes], calls)
        result = attributor.attribute_prompt(list(final.messages), chunks, final.answer, question=question)
    except Exception as err:  # noqa: BLE001 (logged and recorded there: a failure never breaks the query)
        _record_failure(response, err, len(calls))
        return
    _record_result(response, result, question, chunks, unattributed, len(calls))


def attach_streamed_attribution(attributor: AttributorLike, response: Any, question: str | None,
                                calls: Sequence[LLMCall], on_sentence: Callable[[dict], None] | None = None) -> None:
    """Wrap a streaming response's generator so that its sentences are attributed while it is read, and the whole
    response when it is drained (``attach_attribution``'s fields); a failure is logged and recorded, and the
    stream itself always goes on."""
    if response.metadata is None:
        response.metadata = {}
    response.metadata[CITATIONS_KEY] = []
    if not response.source_nodes:
        _record_failure(response, NoChunksError("the query retrieved no nodes, so there is nothing to cite"),
                        len(calls))
        return
    response.metadata[ATTRIBUTION_KEY] = {"error": None, "llm_calls": len(calls), "streaming": True}
    reader = _StreamReader(attributor, response, question, calls, on_sentence)
    if isinstance(response, AsyncStreamingResponse):
        response.response_gen = reader.read_async(response.response_gen)
    else:
        response.response_gen = reader.read(response.response_gen)


class _StreamReader:
    """Feeds the answer's pieces to an ``AnswerStream`` as the caller reads them; an attributor that cannot
    stream attributes the whole text once the stream is drained.

    The final LLM call is the one that starts when the stream is first read (LlamaIndex's streaming calls are
    lazy), else the last one the query started or finished."""

    def __init__(self, attributor: AttributorLike, response: Any, question: str | None, calls: Sequence[LLMCall],
                 on_sentence: Callable[[dict], None] | None) -> None:
        self.attributor, self.calls = attributor, list(calls)
        self.response, self.question, self.on_sentence = response, question, on_sentence
        self.text = ""
        self.stream: Any = None
        self.failed = False  # nothing can be attributed (recorded); the text still streams

    def read(self, pieces: Iterator[str]) -> Iterator[str]:
        with llm_calls_starting() as started:
            first = next(pieces, None)
        self.start(started)
        if first is not None:
            self.feed(first)
            yield first
        for piece in pieces:
            self.feed(piece)
            yield piece
        self.finish()

    async def read_async(self, pieces: AsyncIterator[str]) -> AsyncIterator[str]:
        with llm_calls_starting() as started:
            first = await anext(pieces, None)
        self.start(started)
        if first is not None:
            await asyncio.to_thread(self.feed, first)  # seconds of attribution off the event loop
            yield first
        async for piece in pieces:
            await asyncio.to_thread(self.feed, piece)
            yield piece
        await asyncio.to_thread(self.finish)

    def start(self, started: list[LLMCall]) -> None:
        """Find the final call's prompt and the nodes in it, and open the attributor's stream."""
        self.calls += started[-1:]
        try:
            if not self.calls:
                raise ResponseNotAttributableError(_NO_CALL)
            self.messages = list(self.calls[-1].messages)
            nodes = [n.node for n in self.response.source_nodes]
            self.chunks, self.unattributed = chunks_in_final_prompt(nodes, self.calls)
            if callable(getattr(self.attributor, "open_stream", None)):
                self.stream = self.attributor.open_stream(self.question, self.chunks, prompt=self.messages)
        except Exception as err:  # noqa: BLE001 (logged and recorded there)
            self.failed = True
            _record_failure(self.response, err, len(self.calls))

    def feed(self, piece: str) -> None:
        self.text += piece
        if self.stream is None:
            return
        try:
            settled = self.stream.feed(piece)
        except Exception as err:  # attributed when the stream is drained instead
            log.warning("rag_attrib: streaming citations stopped (%s: %s); the response is attributed when its "
                        "stream is drained", type(err).__name__, err, exc_info=not isinstance(err, RagAttribError))
            self.stream = None
            return
        for sentence in settled:
            entry = sentence.to_dict()
            self.response.metadata[CITATIONS_KEY].append(entry)
            if self.on_sentence is not None:
                try:
                    self.on_sentence(entry)
                except Exception:
                    log.exception("rag_attrib: the on_sentence hook failed")

    def finish(self) -> None:
        if self.failed:
            return
        try:
            if self.stream is not None:
                result = self.stream.finish()
            else:
                result = self.attributor.attribute_prompt(self.messages, self.chunks, self.text,
                                                          question=self.question)
        except Exception as err:  # noqa: BLE001 (logged and recorded there)
            _record_failure(self.response, err, len(self.calls))
            return
        _record_result(self.response, result, self.question, self.chunks, self.unattributed, len(self.calls))


def _record_failure(response: Any, err: Exception, llm_calls: int) -> None:
    log.warning("rag_attrib could not attribute the response (%s: %s); the answer is unchanged",
                type(err).__name__, err, exc_info=not isinstance(err, RagAttribError))
    response.metadata[CITATIONS_KEY] = []
    response.metadata[ATTRIBUTION_KEY] = {
        "error": {"type": type(err).__name__, "message": str(err)},
        "llm_calls": llm_calls,
    }


def _record_result(response: Any, result: AttributionResult, question: str | None, chunks: Sequence[Chunk],
                   unattributed: list[str], llm_calls: int) -> None:
    scores = node_scores(result)
    response.metadata[CITATIONS_KEY] = result.to_dict(token_relevance=False)["sentences"]
    response.metadata[ATTRIBUTION_KEY] = {
        "error": None,
        "llm_calls": llm_calls,
        "model": result.model,
        "proxy": result.proxy,
        "question": question,
        "answer": result.answer,
        "attributed_nodes": [c.id for c in chunks],
        "unattributed_nodes": unattributed,
    }
    rescored = [_rescored(n, scores.get(n.node.node_id)) for n in response.source_nodes]
    # best first, as a reranker leaves them; nodes the final call did not see (score None) keep their order, last
    response.source_nodes = sorted(rescored, key=lambda n: (n.score is None, -(n.score or 0.0)))


def _check_attributable(response: Any, calls: Sequence[LLMCall]) -> None:
    if not response.source_nodes:
        raise NoChunksError("the query retrieved no nodes, so there is nothing to cite")
    if not calls:
        raise ResponseNotAttributableError(_NO_CALL)


_NO_CALL = ("no LLM call of this query was seen to finish: it failed, or the synthesizer called its LLM outside the "
            "query's context (it must run in the query's thread or asyncio task, or one started with a copy of its "
            "context)")


def chunks_in_final_prompt(nodes: Sequence[BaseNode], calls: Sequence[LLMCall]) -> tuple[list[Chunk], list[str]]:
    """The nodes in the final call's prompt as chunks (text as it appears there), and the other nodes' ids.

    Synthesizers put ``node.get_content(metadata_mode=MetadataMode.LLM)`` (metadata header and text) into
    the prompt; a custom template may use the bare text. With one LLM call every node must be in its
    prompt (else ``ChunkNotFoundError``). With several (refine; compact or tree_summarize over more text
    than one prompt holds, whose repacking may cut a node in two), only the nodes whole in the final
    prompt are attributed: the final call knows the others only through the previous answer it quotes.
    """
    final = calls[-1]
    chunks, unattributed = [], []
    for node in nodes:
        texts = [t for t in (node.get_content(MetadataMode.LLM), node.get_content(MetadataMode.NONE)) if t.strip()]
        in_final = next((t for t in texts if find_text(final.prompt_text, t)), None)
        if in_final is not None:
            chunks.append(Chunk(node.node_id, in_final, source_metadata(node, in_final)))
        elif len(calls) > 1 or not texts:
            unattributed.append(node.node_id)
        else:
            raise ChunkNotFoundError(
                f"source node {node.node_id!r} ({' '.join(texts[0].split())[:60]!r}...) is not in the LLM's "
                "prompt; the prompt template must include node text unchanged (LlamaIndex inserts "
                "node.get_content(metadata_mode=MetadataMode.LLM)), and no postprocessor after this one may "
                "rewrite it"
            )
    if not chunks:
        raise NoChunksError(
            f"none of the {len(nodes)} source nodes is whole in the prompt of the last of {len(calls)} LLM calls, "
            "and only that call is attributed (tree_summarize ends with a call over summaries; compact may cut "
            "nodes across calls); give the LLM a context window that holds all retrieved nodes, or retrieve fewer"
        )
    return chunks, unattributed


def source_metadata(node: BaseNode, text: str) -> dict[str, Any]:
    """Where the node's text sits in its source document (``start_char_idx``, which LlamaIndex's node parsers
    set) and inside ``text`` (after a metadata header), so evidence spans get source offsets; and its document."""
    meta: dict[str, Any] = {}
    if getattr(node, "ref_doc_id", None) is not None:
        meta["doc_id"] = node.ref_doc_id
    bare = node.get_content(MetadataMode.NONE)
    start = getattr(node, "start_char_idx", None)
    offset = text.find(bare) if bare else -1
    if isinstance(start, int) and offset >= 0:
        meta["start_index"], meta["text_offset"] = start, offset
    return meta


def node_scores(result: AttributionResult) -> dict[str, float]:
    """Each chunk's mean share over the answer's sentences: its part of the answer's relevance, in [0, 1]."""
    totals = dict.fromkeys((c.id for c in result.chunks), 0.0)
    for sentence in result.sentences:
        for citation in sentence.citations:
            totals[citation.chunk_id] += citation.share
    return {chunk_id: total / max(len(result.sentences), 1) for chunk_id, total in totals.items()}


def _rescored(scored: NodeWithScore, score: float | None) -> NodeWithScore:
    """The node with the attribution score; a copy keeps the retriever's score in its metadata (as
    SentenceTransformerRerank's keep_retrieval_score does), hidden from LLM and embedding text. A copy,
    because the same node object may be shared with other queries or the docstore."""
    node = scored.node
    metadata = {RETRIEVAL_SCORE_KEY: scored.score, **node.metadata}  # a reranker may have stored it already
    copy = node.model_copy(update={
        "metadata": metadata,
        "excluded_llm_metadata_keys": _with_key(node.excluded_llm_metadata_keys),
        "excluded_embed_metadata_keys": _with_key(node.excluded_embed_metadata_keys),
    })
    return NodeWithScore(node=copy, score=score)


def _with_key(keys: list[str]) -> list[str]:
    return keys if RETRIEVAL_SCORE_KEY in keys else [*keys, RETRIEVAL_SCORE_KEY]
