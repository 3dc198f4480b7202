"""A LangChain callback handler that cites, for every chain run, the retrieved documents behind each answer sentence.

The handler only listens: it records what a run retrieved and what its last LLM call saw and said, and
attributes when the run ends. Whatever goes wrong in attribution is logged and recorded, never raised,
so a chain with the handler behaves exactly like the chain without it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langchain_core.outputs import LLMResult

from rag_attrib.errors import ChunkNotFoundError, RagAttribError
from rag_attrib.types import AttributionResult, Chunk

if TYPE_CHECKING:
    from rag_attrib import Attributor

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


@dataclass
class _Run:
    """What one run tree has produced so far."""

    members: list[UUID] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    question: str | None = None
    open_calls: dict[UUID, Prompt] = field(default_factory=dict)  # LLM calls started, not yet ended
    last_call: tuple[Prompt, str] | None = None  # (prompt, generated text) of the last LLM call to end


class CitationCallbackHandler(BaseCallbackHandler):
    """Attributes each chain run's answer to the documents its retrievers returned, when the run ends.

    A run is a whole run tree: the outermost run this handler sees and everything nested in it at any
    depth. Its documents are those of all its retrievers (in order, duplicates dropped); the prompt and
    answer are those of its last LLM or chat model call to finish. The answer may come from any model: the
    attributor's local model scores it by teacher forcing. Results are kept for the last ``max_results``
    runs, by root run id (``result(run_id)``) and as ``latest``. Safe to share between threads and runs.
    """

    def __init__(self, attributor: Attributor, *, max_results: int = 100) -> None:
        if not callable(getattr(attributor, "attribute_prompt", None)):
            raise TypeError(
                f"attributor must be a rag_attrib.Attributor, got {type(attributor).__name__}; "
                "create one with rag_attrib.Attributor.load()"
            )
        if max_results < 1:
            raise ValueError(f"max_results must be at least 1, got {max_results}")
        self.attributor = attributor
        self.max_results = max_results
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

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generations = response.generations
        answer = generations[0][0].text if generations and generations[0] else ""
        with self._lock:
            run = self._run_of(run_id)
            if run is not None and run_id in run.open_calls:
                run.last_call = (run.open_calls.pop(run_id), answer)
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
        self._close_root(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_root(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_root(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close_root(run_id)

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
