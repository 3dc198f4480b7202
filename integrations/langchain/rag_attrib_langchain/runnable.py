"""``with_citations(chain, attributor)``: the chain's output plus a ``citations`` field, as a runnable for LCEL;
streamed, the chain's chunks with each sentence's citations in between."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs

from .handler import CitationCallbackHandler, RunCitations, SentenceCitations

CITATION_EVENT = "rag_attrib_citation"
"""The name of the custom event (``astream_events``: ``on_custom_event``) that carries one sentence's citations
(``SentenceCitations.to_dict()``) while the answer streams."""

if TYPE_CHECKING:
    from pydantic import BaseModel

    from rag_attrib import Attributor

logger = logging.getLogger(__name__)


class CitedRunnable(Runnable[Any, dict[str, Any]]):
    """Runs ``chain`` with a citation handler and adds the run's citations to its output.

    The output is always a dict: a dict output gets a ``key`` entry (``"citations"`` by default); any other
    output (a string, an AIMessage, ...) comes back as ``{"output": <output>, key: ...}``. The citations are
    ``AttributionResult.to_dict()``, or ``{"error": "..."}`` when attribution failed; the chain's own output
    is never changed. Errors raised by the chain itself propagate as usual.
    """

    def __init__(
        self, chain: Runnable, handler: CitationCallbackHandler, *, key: str = "citations",
        token_relevance: bool = False,
    ) -> None:
        self.chain, self.handler, self.key, self.token_relevance = chain, handler, key, token_relevance
        self.name = f"{chain.get_name()}WithCitations"

    @property
    def InputType(self) -> Any:  # LangChain's name
        return self.chain.InputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.chain.get_input_schema(config)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _invoke(self, input: Any, config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        run_id = uuid4()
        output = self.chain.invoke(input, self._config(config, run_id), **kwargs)
        return self._with_citations(output, run_id)

    async def _ainvoke(self, input: Any, config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        run_id = uuid4()
        output = await self.chain.ainvoke(input, self._config(config, run_id), **kwargs)
        return self._with_citations(output, run_id)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """The chain's own chunks, unchanged, with a ``SentenceCitations`` after the chunk that settles each
        sentence (also sent as the custom event ``CITATION_EVENT``), and last the run's ``RunCitations``."""
        yield from self._transform_stream_with_config(iter([input]), self._stream, config, **kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        """As ``stream``; ``astream_events`` carries each sentence as an ``on_custom_event`` named
        ``CITATION_EVENT``."""
        async def one() -> AsyncIterator[Any]:
            yield input

        async for item in self._atransform_stream_with_config(one(), self._astream, config, **kwargs):
            yield item

    def _stream(self, inputs: Iterator[Any], config: RunnableConfig, **kwargs: Any) -> Iterator[Any]:
        (input,) = inputs
        run_id = uuid4()
        sentences = self.handler.listen(run_id)
        try:
            for chunk in self.chain.stream(input, self._config(config, run_id), **kwargs):
                yield chunk
                yield from self._given_out(sentences, config)
        finally:
            self.handler.stop_listening(run_id)
        yield from self._given_out(sentences, config)
        yield self._record(run_id)

    async def _astream(self, inputs: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any) -> AsyncIterator[Any]:
        input = [item async for item in inputs][0]  # noqa: RUF015 (one input: stream, not transform)
        run_id = uuid4()
        sentences = self.handler.listen(run_id)
        try:
            async for chunk in self.chain.astream(input, self._config(config, run_id), **kwargs):
                yield chunk
                for event in _taken(sentences):
                    await _try(adispatch_custom_event(CITATION_EVENT, event.to_dict(), config=config))
                    yield event
        finally:
            self.handler.stop_listening(run_id)
        for event in _taken(sentences):
            await _try(adispatch_custom_event(CITATION_EVENT, event.to_dict(), config=config))
            yield event
        yield self._record(run_id)

    def _given_out(self, sentences: deque[SentenceCitations], config: RunnableConfig) -> Iterator[SentenceCitations]:
        for event in _taken(sentences):
            try:
                dispatch_custom_event(CITATION_EVENT, event.to_dict(), config=config)
            except Exception:  # a callback's failure never breaks the stream
                logger.exception("rag_attrib: dispatching the citation event failed")
            yield event

    def _record(self, run_id: UUID) -> RunCitations:
        record = self.handler.pop(run_id)
        return record if record is not None else RunCitations(run_id, error=_NOT_RECORDED)

    def _config(self, config: RunnableConfig, run_id: UUID) -> RunnableConfig:
        """The caller's config plus our handler, with a run id we choose so we can find this run's result."""
        return merge_configs(config, {"callbacks": [self.handler], "run_id": run_id})

    def _with_citations(self, output: Any, run_id: UUID) -> dict[str, Any]:
        record = self.handler.pop(run_id)
        citations = record.to_dict(self.token_relevance) if record is not None else {"error": _NOT_RECORDED}
        if not isinstance(output, Mapping):
            return {"output": output, self.key: citations}
        if self.key in output:
            logger.warning("rag_attrib: the chain's output already has a %r entry; it is replaced by the citations "
                           "(pass with_citations(..., key=...) to keep it)", self.key)
        return {**output, self.key: citations}


_NOT_RECORDED = ("no citations were recorded for this run: the chain must hand its config (callbacks, run_id) on "
                 "to its steps, as LCEL runnables do")


def _taken(sentences: deque[SentenceCitations]) -> Iterator[SentenceCitations]:
    """The sentences given out so far, each taken once."""
    while sentences:
        yield sentences.popleft()


async def _try(dispatch: Any) -> None:
    try:
        await dispatch
    except Exception:  # a callback's failure never breaks the stream
        logger.exception("rag_attrib: dispatching the citation event failed")


def with_citations(
    chain: Runnable,
    attributor: Attributor,
    *,
    key: str = "citations",
    token_relevance: bool = False,
) -> CitedRunnable:
    """``chain`` whose output carries the citations of each run (see ``CitedRunnable`` for the output shape).

    ``token_relevance=True`` also returns the relevance of every prompt token (large). The handler is
    ``.handler`` on the result (its ``latest`` holds the last run's full ``AttributionResult``).
    ``.stream()`` / ``.astream()`` yield the chain's chunks unchanged, a ``SentenceCitations`` as soon as each
    sentence is settled (``astream_events``: the custom event ``CITATION_EVENT``), and last the ``RunCitations``.
    """
    if not isinstance(chain, Runnable):
        raise TypeError(f"chain must be a LangChain Runnable (an LCEL chain), got {type(chain).__name__}")
    return CitedRunnable(chain, CitationCallbackHandler(attributor), key=key, token_relevance=token_relevance)
