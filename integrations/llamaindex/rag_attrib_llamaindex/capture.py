"""Which LLM calls belong to which query, from LlamaIndex's instrumentation spans.

Every ``query()``/``aquery()`` of a query engine is a span; the node postprocessor, the synthesizer and
the LLM calls run in spans nested under it (LlamaIndex keeps the nesting in a context variable, across
threads started with a copied context and across asyncio tasks). Walking up from a span therefore finds
the query it belongs to, so concurrent queries never mix their prompts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.instrumentation import root_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.instrumentation.events.query import QueryEndEvent, QueryStartEvent
from llama_index.core.instrumentation.span import BaseSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMCall:
    """One finished LLM call: chat messages (a completion prompt becomes one user message) and the answer."""

    messages: tuple[dict[str, str], ...]
    answer: str

    @property
    def prompt_text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)


QueryEndCallback = Callable[[QueryEndEvent, list[LLMCall], list[LLMCall]], None]
"""Called at a query's end with its finished LLM calls and those still open (a streaming call, whose answer is
still to come: ``answer`` empty)."""


@dataclass
class _Watch:
    on_end: QueryEndCallback
    calls: list[LLMCall] = field(default_factory=list)
    open_calls: dict[str, LLMCall] = field(default_factory=dict)  # by span id, in the order they started


_starting: ContextVar[list[LLMCall] | None] = ContextVar("rag_attrib_llm_calls_starting", default=None)


@contextmanager
def llm_calls_starting() -> Iterator[list[LLMCall]]:
    """The LLM calls (outermost ones) that start in this context while active: a streaming response's call starts
    only when its generator is first read, after the query has ended."""
    calls: list[LLMCall] = []
    token = _starting.set(calls)
    try:
        yield calls
    finally:
        _starting.reset(token)


class QueryWatcher:
    """Collects the LLM calls of the queries someone asked to watch, and reports each at its end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parents: dict[str, str | None] = {}
        self._queries: set[str] = set()
        self._watches: dict[str, _Watch] = {}
        self._llm_spans: set[str] = set()  # LLM calls in progress

    def watch(self, span_id: str | None, on_end: QueryEndCallback) -> bool:
        """Watch the query that ``span_id`` runs in; False when it runs in no query (nothing to watch)."""
        with self._lock:
            query = self._nearest(span_id, self._queries)
            if query is None:
                return False
            self._watches[query] = _Watch(on_end)  # a second retrieval in the same query starts over
            return True

    def span_entered(self, span_id: str, parent_id: str | None) -> None:
        with self._lock:
            self._parents[span_id] = parent_id

    def span_closed(self, span_id: str) -> None:
        """Forget a span; a query that failed before its end event is dropped here."""
        with self._lock:
            self._parents.pop(span_id, None)
            self._queries.discard(span_id)
            self._watches.pop(span_id, None)
            self._llm_spans.discard(span_id)

    def handle(self, event: BaseEvent) -> None:
        if isinstance(event, QueryStartEvent) and event.span_id:
            with self._lock:
                self._queries.add(event.span_id)
        elif isinstance(event, (LLMChatStartEvent, LLMCompletionStartEvent)) and event.span_id:
            with self._lock:
                nested = self._nearest(self._parents.get(event.span_id), self._llm_spans) is not None
                self._llm_spans.add(event.span_id)
                query = None if nested else self._nearest(event.span_id, self._watches)
                if query is not None:
                    self._watches[query].open_calls[event.span_id] = _llm_call(event)
            starting = _starting.get()
            if starting is not None and not nested:
                starting.append(_llm_call(event))
        elif isinstance(event, (LLMChatEndEvent, LLMCompletionEndEvent)):
            with self._lock:
                self._llm_spans.discard(event.span_id)
                # A call made inside another LLM call (CustomLLM.chat calls complete) is part of the outer one.
                nested = self._nearest(self._parents.get(event.span_id), self._llm_spans) is not None
                query = None if nested else self._nearest(event.span_id, self._watches)
                if query is not None:
                    self._watches[query].open_calls.pop(event.span_id, None)
                    self._watches[query].calls.append(_llm_call(event))
        elif isinstance(event, QueryEndEvent) and event.span_id:
            with self._lock:
                self._queries.discard(event.span_id)
                watch = self._watches.pop(event.span_id, None)
            if watch is not None:  # outside the lock: attribution takes seconds
                try:
                    watch.on_end(event, watch.calls, list(watch.open_calls.values()))
                except Exception:  # LlamaIndex drops handler errors silently; say what happened
                    log.exception("rag_attrib: attributing the response of a query failed")

    def _nearest(self, span_id: str | None, wanted: set[str] | dict[str, Any]) -> str | None:
        """``span_id`` or its closest ancestor that is in ``wanted``."""
        while span_id is not None and span_id not in wanted:
            span_id = self._parents.get(span_id)
        return span_id


def _llm_call(event: LLMChatStartEvent | LLMChatEndEvent | LLMCompletionStartEvent | LLMCompletionEndEvent
              ) -> LLMCall:
    """The call's prompt and answer (empty for a call that has only started)."""
    response = getattr(event, "response", None)
    if isinstance(event, (LLMChatStartEvent, LLMChatEndEvent)):
        messages = tuple({"role": str(m.role.value), "content": m.content or ""} for m in event.messages)
        answer = response.message.content if response is not None else None
    else:
        messages = ({"role": "user", "content": event.prompt},)
        answer = response.text if response is not None else None
    return LLMCall(messages, answer or "")


class _SpanTracker(BaseSpanHandler[BaseSpan]):
    """Tells the watcher each span's parent and when it closes; keeps no spans itself."""

    def new_span(self, id_: str, bound_args: Any, instance: Any = None, parent_span_id: str | None = None,
                 tags: dict[str, Any] | None = None, **kwargs: Any) -> None:
        _watcher.span_entered(id_, parent_span_id)

    def prepare_to_exit_span(self, id_: str, bound_args: Any, instance: Any = None, result: Any = None,
                             **kwargs: Any) -> None:
        _watcher.span_closed(id_)

    def prepare_to_drop_span(self, id_: str, bound_args: Any, instance: Any = None,
                             err: BaseException | None = None, **kwargs: Any) -> None:
        _watcher.span_closed(id_)


class _EventForwarder(BaseEventHandler):
    @classmethod
    def class_name(cls) -> str:
        return "RagAttribEventForwarder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        _watcher.handle(event)


_watcher = QueryWatcher()
_install_lock = threading.Lock()
_installed = False


def query_watcher() -> QueryWatcher:
    """The process-wide watcher, attached to LlamaIndex's root dispatcher on first use (once)."""
    global _installed
    with _install_lock:
        if not _installed:
            root_dispatcher.add_span_handler(_SpanTracker())
            root_dispatcher.add_event_handler(_EventForwarder())
            _installed = True
    return _watcher
