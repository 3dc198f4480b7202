"""A LangChain callback handler that cites, for every chain run, the retrieved documents behind each answer sentence.

The handler only listens: it records what a run retrieved and what its last LLM call saw and said, and
attributes when the run ends. When the LLM streams, each sentence is attributed as soon as it is settled, while
the rest is still being written (``on_sentence``; ``rag_attrib.stream``), and the run's result at its end is the
same. Whatever goes wrong in attribution is logged and recorded, never raised, so a chain with the handler
behaves exactly like the chain without it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langchain_core.outputs import LLMResult

from rag_attrib.errors import ChunkNotFoundError, RagAttribError
from rag_attrib.types import AttributionResult, Chunk, SentenceAttribution

if TYPE_CHECKING:
    from rag_attrib import Attributor
    from rag_attrib.stream import AnswerStream

logger = logging.getLogger(__name__)

Prompt = str | list[dict[str, Any]]  # an LLM's prompt string, or a chat model's messages as role/content dicts

_NOT_FOUND_HINT = (
    "; the documents are looked up in the prompt of the chain's last LLM call (chat messages rendered with the "
    "local model's chat template), so put each retrieved document's page_content into the prompt unchanged, "
    "e.g. '\\n\\n'.join(doc.page_content for doc in docs)"
)


@dataclass(frozen=True)
class RunCitations:
    """The citations of one chain run: the attribution, or the reason there is none (``error``)."""

    run_id: UUID
    result: AttributionResult | None = None
    error: str | None = None

    def to_dict(self, token_relevance: bool = False) -> dict[str, Any]:
        """The result as a dict (per-token relevance left out by default: it is large), or ``{"error": ...}``."""
        if self.result is None:
            return {"error": self.error}
        return self.result.to_dict(token_relevance=token_relevance)


@dataclass(frozen=True)
class SentenceCitations:
    """One answer sentence's citations, given out while the answer streams, as soon as the sentence is settled
    (after its last token, once the next sentence has begun).

    ``run_id`` is the root run's (as ``result(run_id)``), ``index`` the sentence's number in the answer, and
    ``sentence`` its ``SentenceAttribution``: the text, its ``span`` in the answer so far (the same in the
    finished answer), ``cited`` chunk ids, every chunk's score and share, and the evidence's character spans.
    Its ``support`` is None; with a support model the final result's ``cited`` may differ (``rag_attrib.stream``).
    """

    run_id: UUID
    index: int
    sentence: SentenceAttribution

    def to_dict(self) -> dict[str, Any]:
        """``{"run_id", "index", "text", "span": [start, end], "cited": [ids], "grounding", "target_value", "support",
        "citations": [{"chunk_id", "score", "share", "evidence": [{"span", "share", "source_span"}]}]}``: the
        sentence as in ``AttributionResult.to_dict()``, JSON-ready."""
        return {"run_id": str(self.run_id), "index": self.index, **self.sentence.to_dict()}


class _Streaming:
    """The attribution of one streaming LLM call; a failure stops it (logged), and the run's end attributes as
    usual."""

    def __init__(self, attributor: Attributor, prompt: Prompt, documents: Sequence[Document], question: str | None
                 ) -> None:
        self.stream: AnswerStream | None = None
        self.text = ""
        try:
            self.stream = attributor.open_stream(question, document_chunks(documents), prompt=prompt)
        except Exception as error:  # noqa: BLE001 (never break the chain)
            self._failed(error)

    def feed(self, token: str) -> list[SentenceAttribution]:
        self.text += token
        if self.stream is None:
            return []
        try:
            return self.stream.feed(token)
        except Exception as error:  # noqa: BLE001
            self._failed(error)
            return []

    def finish(self, answer: str) -> AttributionResult | None:
        """The call's result, or None when streaming failed or the streamed text is not the call's answer."""
        if self.stream is None or self.text != answer:
            return None
        try:
            return self.stream.finish()
        except Exception as error:  # noqa: BLE001
            self._failed(error)
            return None

    def _failed(self, error: Exception) -> None:
        logger.warning("rag_attrib: streaming citations stopped (%s: %s); the run is attributed when it ends",
                       type(error).__name__, error, exc_info=not isinstance(error, RagAttribError))
        self.stream = None


@dataclass
class _Run:
    """What one run tree has produced so far."""

    members: list[UUID] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    question: str | None = None
    open_calls: dict[UUID, Prompt] = field(default_factory=dict)  # LLM calls started, not yet ended
    streams: dict[UUID, _Streaming] = field(default_factory=dict)  # LLM calls that stream, attributed meanwhile
    last_call: tuple[Prompt, str] | None = None  # (prompt, generated text) of the last LLM call to end
    last_result: AttributionResult | None = None  # the last call's result, when it was attributed as it streamed


class CitationCallbackHandler(BaseCallbackHandler):
    """Attributes each chain run's answer to the documents its retrievers returned, when the run ends.

    A run is a whole run tree: the outermost run this handler sees and everything nested in it at any
    depth. Its documents are those of all its retrievers (in order, duplicates dropped); the prompt and
    answer are those of its last LLM or chat model call to finish. The answer may come from any model: the
    attributor's local model scores it by teacher forcing. Results are kept for the last ``max_results``
    runs, by root run id (``result(run_id)``) and as ``latest``. Safe to share between threads and runs.

    When an LLM call streams (``chain.stream``, ``astream``, ``astream_events``, or a model with streaming on)
    after the run has retrieved, each sentence of its answer is attributed as soon as it is settled and handed
    to ``on_sentence`` (a ``SentenceCitations``); the run's result at its end is the one built meanwhile.
    """

    def __init__(self, attributor: Attributor, *, max_results: int = 100,
                 on_sentence: Callable[[SentenceCitations], None] | None = None) -> None:
        if not callable(getattr(attributor, "attribute_prompt", None)):
            raise TypeError(
                f"attributor must be a rag_attrib.Attributor, got {type(attributor).__name__}; "
                "create one with rag_attrib.Attributor.load()"
            )
        if max_results < 1:
            raise ValueError(f"max_results must be at least 1, got {max_results}")
        self.attributor = attributor
        self.max_results = max_results
        self.on_sentence = on_sentence
        self._listeners: dict[UUID, deque[SentenceCitations]] = {}  # root run id -> its sentences not yet taken
        self._lock = threading.Lock()
        self._root_of: dict[UUID, UUID] = {}  # every run still open -> the root of its tree
        self._runs: dict[UUID, _Run] = {}  # root run id -> what its tree recorded
        self._results: OrderedDict[UUID, RunCitations] = OrderedDict()
        self._latest: RunCitations | None = None

    # Results

    @property
    def latest(self) -> RunCitations | None:
        """The citations of the run that finished last, or None before any has."""
        with self._lock:
            return self._latest

    def result(self, run_id: UUID) -> RunCitations:
        """The citations of the run tree whose root has ``run_id`` (pass ``config={"run_id": ...}`` to set it)."""
        with self._lock:
            if run_id in self._results:
                return self._results[run_id]
        raise KeyError(
            f"no citations for run {run_id}: it has not finished, it is not the outermost run this handler saw, "
            f"or it is older than the last max_results={self.max_results} runs"
        )

    def pop(self, run_id: UUID) -> RunCitations | None:
        """Remove and return the citations of run ``run_id`` (None if there are none); ``latest`` is kept."""
        with self._lock:
            return self._results.pop(run_id, None)

    # Run starts: place each run in its tree

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       **kwargs: Any) -> None:
        self._start(run_id, parent_run_id)

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                      **kwargs: Any) -> None:
        self._start(run_id, parent_run_id)

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                           **kwargs: Any) -> None:
        with self._lock:
            run = self._start_locked(run_id, parent_run_id)
            if run.question is None:
                run.question = query

    def on_llm_start(self, serialized: Any, prompts: list[str], *, run_id: UUID, parent_run_id: UUID | None = None,
                     **kwargs: Any) -> None:
        with self._lock:
            self._start_locked(run_id, parent_run_id).open_calls[run_id] = prompts[0]

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        with self._lock:
            self._start_locked(run_id, parent_run_id).open_calls[run_id] = convert_to_openai_messages(messages[0])

    # Run ends: record what they produced; the end of a root attributes its tree

    def on_retriever_end(self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._run_of(run_id)
            if run is not None:
                for doc in documents:
                    if doc.page_content.strip() and doc not in run.documents:
                        run.documents.append(doc)
        self._end(run_id)

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run, root = self._run_of(run_id), self._root_of.get(run_id)
            if run is None or run_id not in run.open_calls or not run.documents:
                return
            streaming = run.streams.get(run_id)
            if streaming is None:
                if not callable(getattr(self.attributor, "open_stream", None)):
                    return  # an attributor that cannot stream attributes at the run's end
                streaming = run.streams[run_id] = _Streaming(self.attributor, run.open_calls[run_id],
                                                             list(run.documents), run.question)
            done = len(streaming.stream.sentences) if streaming.stream is not None else 0
        for index, sentence in enumerate(streaming.feed(token), start=done):  # outside the lock: seconds
            self._give_out(SentenceCitations(root, index, sentence))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generations = response.generations
        answer = generations[0][0].text if generations and generations[0] else ""
        with self._lock:
            run, root = self._run_of(run_id), self._root_of.get(run_id)
            streaming = run.streams.pop(run_id, None) if run is not None else None
        done = len(streaming.stream.sentences) if streaming is not None and streaming.stream is not None else 0
        result = streaming.finish(answer) if streaming is not None else None
        if result is not None:
            for index, sentence in enumerate(result.sentences[done:], start=done):  # settled by the answer's end
                self._give_out(SentenceCitations(root, index, sentence))
        with self._lock:
            if run is not None and run_id in run.open_calls:
                run.last_call, run.last_result = (run.open_calls.pop(run_id), answer), result
        self._end(run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    # Errors: a failed LLM call is not the answer; a failed root leaves nothing to cite

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._run_of(run_id)
            if run is not None:
                run.open_calls.pop(run_id, None)
                run.streams.pop(run_id, None)
        self._close_root(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_root(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_root(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_root(run_id)

    # Sentences while the answer streams

    def listen(self, run_id: UUID) -> deque[SentenceCitations]:
        """The sentences of root run ``run_id`` from now on, appended as they are attributed (``stop_listening``
        ends it); what ``with_citations(...).stream()`` interleaves with the chain's chunks."""
        with self._lock:
            return self._listeners.setdefault(run_id, deque())

    def stop_listening(self, run_id: UUID) -> None:
        with self._lock:
            self._listeners.pop(run_id, None)

    def _give_out(self, event: SentenceCitations) -> None:
        with self._lock:
            listener = self._listeners.get(event.run_id)
        if listener is not None:
            listener.append(event)
        if self.on_sentence is not None:
            try:
                self.on_sentence(event)
            except Exception:  # a failing hook never breaks the chain either
                logger.exception("rag_attrib: the on_sentence hook failed for sentence %d of run %s",
                                 event.index, event.run_id)

    # Run-tree bookkeeping (the lock guards every shared structure)

    def _start(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        with self._lock:
            self._start_locked(run_id, parent_run_id)

    def _start_locked(self, run_id: UUID, parent_run_id: UUID | None) -> _Run:
        """A run whose parent this handler has not seen is a root: the handler may be attached mid-tree."""
        root = self._root_of.get(parent_run_id) if parent_run_id is not None else None
        if root is None:
            root = run_id
            self._runs[root] = _Run()
        self._root_of[run_id] = root
        run = self._runs[root]
        run.members.append(run_id)
        return run

    def _run_of(self, run_id: UUID) -> _Run | None:
        root = self._root_of.get(run_id)
        return None if root is None else self._runs.get(root)

    def _close_root(self, run_id: UUID) -> _Run | None:
        """Forget the tree rooted at ``run_id`` and return it; None if ``run_id`` is not an open root."""
        with self._lock:
            if self._root_of.get(run_id) != run_id:
                return None
            run = self._runs.pop(run_id)
            for member in run.members:
                self._root_of.pop(member, None)
            return run

    def _end(self, run_id: UUID) -> None:
        run = self._close_root(run_id)
        if run is None:
            return
        citations = self._attribute(run_id, run)  # outside the lock: other runs go on meanwhile
        with self._lock:
            self._results[run_id] = citations
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)
            self._latest = citations

    def _attribute(self, run_id: UUID, run: _Run) -> RunCitations:
        """Attribute the run's answer; any failure becomes a logged, recorded error instead of an exception."""
        if not run.documents:
            return _failed(run_id, "no retriever returned documents in this run, so there is nothing to cite; "
                                   "attach the handler to a chain that retrieves before it calls the LLM")
        if run.last_call is None:
            return _failed(run_id, "no LLM or chat model call finished in this run, so there is no answer to "
                                   "attribute; attach the handler to the whole chain, not only its retriever")
        if run.last_result is not None:
            return RunCitations(run_id, result=run.last_result)
        prompt, answer = run.last_call
        try:
            # the core serialises attributions on one model (it is patched in place meanwhile)
            result = self.attributor.attribute_prompt(
                prompt, document_chunks(run.documents), answer, question=run.question
            )
        except Exception as error:  # noqa: BLE001 (never break the chain: what failed is logged and recorded)
            message = f"{type(error).__name__}: {error}"
            if isinstance(error, ChunkNotFoundError):
                message += _NOT_FOUND_HINT
            return _failed(run_id, message, with_traceback=not isinstance(error, RagAttribError))
        return RunCitations(run_id, result=result)


def _failed(run_id: UUID, message: str, with_traceback: bool = False) -> RunCitations:
    logger.warning("rag_attrib: no citations for run %s: %s", run_id, message, exc_info=with_traceback)
    return RunCitations(run_id, error=message)


def document_chunks(documents: Sequence[Document]) -> list[Chunk]:
    """Chunks that keep each document's id and metadata, so every citation points back to its document.

    The id is the document's ``id``, else ``metadata["id"]``, else ``metadata["source"]``; when some
    document has none of them, or two share one, all chunks are numbered "1", "2", ... in retrieval order.
    """
    ids = [_own_id(doc) for doc in documents]
    if None in ids or len(set(ids)) < len(ids):
        ids = [str(n) for n in range(1, len(documents) + 1)]
    return [Chunk(str(i), doc.page_content, dict(doc.metadata)) for i, doc in zip(ids, documents, strict=True)]


def _own_id(doc: Document) -> str | None:
    for value in (doc.id, doc.metadata.get("id"), doc.metadata.get("source")):
        if value is not None and str(value) != "":
            return str(value)
    return None
