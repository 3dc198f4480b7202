"""The data model users get back: frozen dataclasses with a versioned JSON form."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from .errors import InvalidChunksError, NoChunksError, NonFiniteError, ResultFormatError

TARGETS = ("token", "max", "logprob")  # what a sentence's score explains (rag_attrib.lrp.relevance)
MEMORY_CHOICES = ("auto", "fast", "low")  # what the backward passes keep (rag_attrib.lrp.relevance.memory_plan)
Target = Literal["token", "max", "logprob"]

FORMAT = "rag_attrib.result"
FORMAT_VERSION = 2  # 2: citations carry evidence; version 1 still loads (no evidence)
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` in some text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"Span needs 0 <= start <= end, got ({self.start}, {self.end})")

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def of(self, text: str) -> str:
        return text[self.start : self.end]

    def to_list(self) -> list[int]:
        return [self.start, self.end]


@dataclass(frozen=True)
class Chunk:
    """One retrieved passage. ``id`` is the caller's (document id, node id); it is never replaced.

    An integer id becomes its string (``7`` -> ``"7"``), as JSON and the prompt's numbering write it; any
    other id that is not a string, and a text that is not a string, raise ``InvalidChunksError``.
    """

    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if isinstance(self.id, int) and not isinstance(self.id, bool):
            object.__setattr__(self, "id", str(self.id))
        if not isinstance(self.id, str) or not self.id:
            raise InvalidChunksError(f"a chunk id must be a non-empty string (or an int), got {self.id!r}")
        if not isinstance(self.text, str):
            raise InvalidChunksError(f"chunk {self.id!r}: text must be a string, got {type(self.text).__name__}")
        if not isinstance(self.metadata, Mapping):
            raise InvalidChunksError(f"chunk {self.id!r}: metadata must be a dict, got {type(self.metadata).__name__}")
        if len(self.id.split()) >= 5 and len(self.text.split()) <= 2:  # Chunk("The bakery is run by...", "bakery")
            warnings.warn(f"chunk id {self.id[:40]!r} reads like a passage and its text {self.text!r} like an id: "
                          "the arguments are Chunk(id, text)", stacklevel=3)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Chunk:
        return cls(id=d["id"], text=d["text"], metadata=dict(d.get("metadata") or {}))


def as_chunks(items: Iterable[str | Chunk | Mapping[str, Any]]) -> tuple[Chunk, ...]:
    """Normalise user input to Chunks, the same way everywhere (API, JSONL records, chunk files).

    ``items`` is a list (or any iterable but a string): of strings, which get ids "1", "2", ... (their number
    in the prompt), of ``Chunk``s, or of dicts with a ``"text"`` and an optional ``"id"`` (a missing or null
    id also becomes the chunk's number) and ``"metadata"``.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InvalidChunksError(
            f"chunks must be a list of passages, got a {type(items).__name__}"
            + (" (a single string would be read letter by letter)" if isinstance(items, str) else "")
            + "; pass chunks=[...], e.g. [\"first passage\", \"second passage\"]"
        )
    chunks = []
    for n, item in enumerate(items, start=1):
        if isinstance(item, Chunk):
            chunks.append(item)
        elif isinstance(item, str):
            chunks.append(Chunk(id=str(n), text=item))
        elif isinstance(item, Mapping) and "text" in item:
            chunk_id = item.get("id")
            chunks.append(Chunk(id=str(n) if chunk_id is None else chunk_id, text=item["text"],
                                metadata=item.get("metadata") or {}))
        else:
            raise InvalidChunksError(
                f"chunk {n} is a {type(item).__name__}; pass a str, a rag_attrib.Chunk, or a dict with a 'text' key"
            )
    if not chunks:
        raise NoChunksError("no chunks were given: pass the retrieved passages as chunks=[...] (at least one)")
    ids = [c.id for c in chunks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidChunksError(f"chunk ids must be unique, these repeat: {duplicates}; give each chunk its own id")
    empty = [c.id for c in chunks if not c.text.strip()]
    if empty:
        raise InvalidChunksError(f"chunks {empty} have no text; drop them before attributing")
    return tuple(chunks)


@dataclass(frozen=True)
class Evidence:
    """The passage inside a chunk that carries a sentence: one of the chunk's sentences (or, in a chunk without
    sentence structure, a window of tokens).

    ``span`` indexes the chunk's ``text``; ``share`` is its part of the chunk's positive relevance for the
    sentence; ``source_span`` indexes the source document when the chunk knows its offset there
    (``metadata["start_index"]``, see ``aggregate.source_offsets``), else None.
    """

    span: Span
    share: float
    source_span: Span | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"span": self.span.to_list(), "share": self.share,
                "source_span": None if self.source_span is None else self.source_span.to_list()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evidence:
        source = d.get("source_span")
        return cls(Span(*d["span"]), d["share"], None if source is None else Span(*source))


@dataclass(frozen=True)
class Citation:
    """How much one chunk contributed to one sentence.

    ``score`` is the summed relevance of the chunk's tokens (signed); ``share`` is the chunk's part of
    the positive relevance over the context tokens, in [0, 1]. ``evidence``: the passages of the chunk that
    carry the sentence, best first (for cited chunks; for every chunk with ``evidence="all"``).
    """

    chunk_id: str
    score: float
    share: float
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk_id, "score": self.score, "share": self.share,
                "evidence": [e.to_dict() for e in self.evidence]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Citation:
        return cls(d["chunk_id"], d["score"], d["share"], tuple(Evidence.from_dict(e) for e in d.get("evidence", ())))


@dataclass(frozen=True)
class Conflict:
    """Where a chunk that carries a sentence says otherwise: ``span`` indexes the chunk's text (the passage the
    relevance found), ``kinds`` what differs (``"number"``, ``"flag"``, ``"state"``, ``"code"``, ``"opposite"``)."""

    chunk_id: str
    span: Span
    kinds: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk_id, "span": self.span.to_list(), "kinds": list(self.kinds)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Conflict:
        return cls(d["chunk_id"], Span(*d["span"]), tuple(d["kinds"]))


@dataclass(frozen=True)
class SentenceAttribution:
    """One answer sentence: where it sits in the answer and which chunks it came from.

    ``citations`` holds every chunk, sorted by score (raw scores are never dropped); ``cited`` holds the
    ids the selection rule picked. ``grounding`` is the share of positive relevance landing in chunks.
    ``support``: the probability that some chunk carries the sentence (``rag_attrib.support``); None when the
    attributor runs without a support model, or where its support model leaves the decision to the shares.
    ``conflict``: where the sentence's top chunk states another value (``verify`` calls a carried sentence with one
    ``contradicted``); None when it does not, or when the attributor does not look (``contradictions=False``).
    """

    text: str
    span: Span
    citations: tuple[Citation, ...]
    cited: tuple[str, ...]
    grounding: float
    target_value: float
    support: float | None = None
    conflict: Conflict | None = None

    @property
    def top(self) -> Citation | None:
        return self.citations[0] if self.citations else None

    def to_dict(self) -> dict[str, Any]:
        """One entry of ``AttributionResult.to_dict()["sentences"]``."""
        return {"text": self.text, "span": self.span.to_list(), "cited": list(self.cited), "grounding": self.grounding,
                "target_value": self.target_value, "support": self.support,
                "conflict": None if self.conflict is None else self.conflict.to_dict(),
                "citations": [c.to_dict() for c in self.citations]}


@dataclass(frozen=True)
class TokenRelevance:
    """Relevance of every input token, one row per sentence; offsets index ``prompt + answer``."""

    tokens: tuple[str, ...]
    offsets: tuple[Span, ...]
    answer_start: int
    values: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class AttributionResult:
    """Everything one attribution produced, enough to re-render or re-check it later."""

    sentences: tuple[SentenceAttribution, ...]
    chunks: tuple[Chunk, ...]
    chunk_spans: tuple[Span, ...]
    prompt: str
    answer: str
    question: str | None
    model: str
    target: str
    proxy: bool
    min_share: float
    token_relevance: TokenRelevance | None = None

    @property
    def has_support(self) -> bool:
        """Whether a support model decided which sentences a chunk carries (their ``support`` is set)."""
        return any(s.support is not None for s in self.sentences)

    def chunk(self, chunk_id: str) -> Chunk:
        for c in self.chunks:
            if c.id == chunk_id:
                return c
        raise KeyError(f"no chunk with id {chunk_id!r}; ids are {[c.id for c in self.chunks]}")

    def to_dict(self, token_relevance: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self.model,
            "target": self.target,
            "proxy": self.proxy,
            "min_share": self.min_share,
            "question": self.question,
            "prompt": self.prompt,
            "answer": self.answer,
            "chunks": [c.to_dict() for c in self.chunks],
            "chunk_spans": [s.to_list() for s in self.chunk_spans],
            "sentences": [s.to_dict() for s in self.sentences],
        }
        tr = self.token_relevance
        if token_relevance and tr is not None:
            d["token_relevance"] = {
                "tokens": list(tr.tokens),
                "offsets": [o.to_list() for o in tr.offsets],
                "answer_start": tr.answer_start,
                "values": [list(row) for row in tr.values],
            }
        return d

    def to_json(self, token_relevance: bool = True, indent: int | None = 2) -> str:
        """The result as JSON; ``NonFiniteError`` if it holds a NaN or infinity (JSON has none)."""
        return finite_json(self.to_dict(token_relevance), "the result", indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AttributionResult:
        if d.get("format") != FORMAT:
            hint = (" (a verify record: read it with Verification.from_dict, its result is under 'attribution')"
                    if "verdicts" in d else "")
            raise ResultFormatError(f"not a rag_attrib result (format={d.get('format')!r}); expected {FORMAT!r}{hint}")
        if d.get("version") not in READABLE_VERSIONS:
            raise ResultFormatError(
                f"result format version {d.get('version')} is not readable by this rag_attrib "
                f"(reads versions {READABLE_VERSIONS}); upgrade rag_attrib or re-run the attribution"
            )
        tr = d.get("token_relevance")
        return cls(
            sentences=tuple(
                SentenceAttribution(
                    text=s["text"],
                    span=Span(*s["span"]),
                    citations=tuple(Citation.from_dict(c) for c in s["citations"]),
                    cited=tuple(s["cited"]),
                    grounding=s["grounding"],
                    target_value=s["target_value"],
                    support=s.get("support"),
                    conflict=None if s.get("conflict") is None else Conflict.from_dict(s["conflict"]),
                )
                for s in d["sentences"]
            ),
            chunks=tuple(Chunk.from_dict(c) for c in d["chunks"]),
            chunk_spans=tuple(Span(*s) for s in d["chunk_spans"]),
            prompt=d["prompt"],
            answer=d["answer"],
            question=d.get("question"),
            model=d["model"],
            target=d["target"],
            proxy=d["proxy"],
            min_share=d["min_share"],
            token_relevance=None
            if tr is None
            else TokenRelevance(
                tokens=tuple(tr["tokens"]),
                offsets=tuple(Span(*o) for o in tr["offsets"]),
                answer_start=tr["answer_start"],
                values=tuple(tuple(row) for row in tr["values"]),
            ),
        )

    def to_html(self, title: str | None = None) -> str:
        """A self-contained HTML page: sentences, a relevance heat map over the chunks, a score table."""
        from .render.html import render_html

        return render_html(self, title=title)

    def _repr_html_(self) -> str:
        """Jupyter: the report as a fragment with scoped CSS and unique ids (rag_attrib.render.html)."""
        from .render.html import render_fragment

        return render_fragment([("Attribution", self, None)])

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """rich: ``console.print(result)`` shows the terminal view (rag_attrib.render.terminal)."""
        from .render.terminal import result_view

        yield result_view(self, options.max_width)

    @classmethod
    def from_json(cls, text: str | bytes | os.PathLike) -> AttributionResult:
        """The result from the JSON ``to_json`` wrote: its text, or the path of a file holding it."""
        if isinstance(text, os.PathLike):
            text = Path(text).read_text(encoding="utf-8-sig")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            looks = text.strip() if isinstance(text, str) else ""
            hint = " (it looks like a path: pass a pathlib.Path)" if looks and looks[0] not in "{[" else ""
            raise ResultFormatError(f"not a rag_attrib result: not JSON ({err.msg}){hint}") from None
        if not isinstance(data, dict):
            raise ResultFormatError(f"not a rag_attrib result: a JSON {type(data).__name__}, not an object")
        check_read_finite(data, "the result", ResultFormatError)
        return cls.from_dict(data)


def finite_json(value: Any, what: str, **kwargs: Any) -> str:
    """``json.dumps(value, **kwargs)`` refusing NaN and infinity, which it would write as bare ``NaN`` and
    ``Infinity``: no JSON parser but Python's reads them. ``NonFiniteError`` names where in ``what`` it sits."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        where = non_finite_at(value)
        if where is None:
            raise
        raise NonFiniteError(
            f"{what} holds {where}, and JSON has no NaN or infinity: nothing rag_attrib computes is NaN, so it "
            "came from outside (chunk metadata, a result built or edited by hand); replace it there, e.g. by None"
        ) from None


def non_finite_at(value: Any) -> str | None:
    """Where a JSON-like value (dicts, lists, numbers) holds a NaN or an infinity, as ``path = number``, e.g.
    ``sentences[0].grounding = nan``; None when it holds none."""
    stack = [("", value)]
    while stack:  # a loop, not recursion: a deeply nested value must not exhaust the stack
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{path or 'the value'} = {item}"
        if isinstance(item, Mapping):
            stack.extend((f"{path}.{key}" if path else str(key), v) for key, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def check_read_finite(value: Any, what: str, error: Callable[[str], Exception]) -> None:
    """Raise ``error`` if a value read from JSON holds a NaN or infinity: Python's ``json`` reads ``NaN``,
    ``Infinity`` and ``1e999``, other parsers refuse them, and nothing read may carry them into an output."""
    where = non_finite_at(value)
    if where is not None:
        raise error(f"{what} holds {where}, and JSON has no NaN or infinity (other parsers than Python's refuse "
                    "NaN and Infinity): write null or a number instead")


class AttributorLike(Protocol):
    """What ``verify``, the batch runners, the evaluation and the integrations need of an attributor.

    ``rag_attrib.Attributor`` is one; a test double or a wrapper only has to provide these.
    """

    model: Any
    tokenizer: Any
    target: str
    min_share: float
    system_prompt: str | None

    def attribute(self, question: str, chunks: Any, answer: str | None = None, *, target: Any = None,
                  sentences: Any = None) -> AttributionResult: ...

    def attribute_prompt(self, prompt: Any, chunks: Any, answer: str | None = None, *, question: str | None = None,
                         target: Any = None, sentences: Any = None) -> AttributionResult: ...
