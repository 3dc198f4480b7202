"""Citation verification: do the ``[n]`` markers an LLM wrote point at the chunks the answer came from?

Per sentence, markers are parsed (and stripped from the text that is attributed), mapped to chunks by
number, id or the prompt's labels (``rag_attrib.markers``), and compared with the attribution; the verdicts and
the rule that decides which chunks carry a sentence are ``rag_attrib.verdicts``'.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .aggregate import check_min_share
from .errors import InvalidInputError
from .markers import (  # noqa: F401  citation_spans is re-exported
    DEFAULT_MARKER_PATTERNS,
    Marker,
    by_label,
    citation_spans,
    parse_markers,
    strip_markers,
)
from .text import check_answer, split_sentences
from .types import AttributionResult, AttributorLike, Chunk, Conflict, Span, as_chunks
from .verdicts import VERDICTS, carrying, verdict


@dataclass(frozen=True)
class SentenceVerdict:
    text: str  # the sentence as the LLM wrote it, markers included
    span: Span  # in the original answer
    markers: tuple[Marker, ...]
    verdict: str
    cited: tuple[str, ...]  # chunk ids the markers name
    attributed: tuple[str, ...]  # chunk ids the attribution says carry the sentence
    top_share: float
    grounding: float
    conflict: Conflict | None = None  # contradicted: the chunk and the passage that say otherwise

    @property
    def suggestion(self) -> tuple[str, ...]:
        """Chunks to cite instead (miscited) or to add (uncited)."""
        return self.attributed if self.verdict in ("miscited", "uncited") else ()

    @property
    def unknown_markers(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.markers if m.chunk_id is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "span": self.span.to_list(),
            "verdict": self.verdict,
            "cited": list(self.cited),
            "attributed": list(self.attributed),
            "suggestion": list(self.suggestion),
            "unknown_markers": list(self.unknown_markers),
            "markers": [{"span": m.span.to_list(), "key": m.key, "chunk_id": m.chunk_id, "by": m.by}
                        for m in self.markers],
            "top_share": self.top_share,
            "grounding": self.grounding,
            "conflict": None if self.conflict is None else self.conflict.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SentenceVerdict:
        markers = tuple(Marker(Span(*m["span"]), m["key"], m["chunk_id"], m.get("by")) for m in d["markers"])
        conflict = None if d.get("conflict") is None else Conflict.from_dict(d["conflict"])
        return cls(d["text"], Span(*d["span"]), markers, d["verdict"], tuple(d["cited"]), tuple(d["attributed"]),
                   d["top_share"], d["grounding"], conflict)


@dataclass(frozen=True)
class Verification:
    """The verdicts of one answer, with the attribution they rest on."""

    answer: str
    sentences: tuple[SentenceVerdict, ...]
    result: AttributionResult

    def counts(self) -> dict[str, int]:
        return {v: sum(s.verdict == v for s in self.sentences) for v in VERDICTS}

    def to_dict(self, token_relevance: bool = False) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "verdicts": [s.to_dict() for s in self.sentences],
            "summary": summarize([self]),
            "attribution": self.result.to_dict(token_relevance=token_relevance),
        }

    def _repr_html_(self) -> str:
        """Jupyter: the report as a fragment with scoped CSS and unique ids (rag_attrib.render.html)."""
        from .render.html import render_fragment

        return render_fragment([("Citation check", self.result, self)])

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """rich: ``console.print(verification)`` shows the verdicts and the attribution (rag_attrib.render.terminal)."""
        from .render.terminal import verification_view

        yield verification_view(self, options.max_width)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verification:
        return cls(d["answer"], tuple(SentenceVerdict.from_dict(v) for v in d["verdicts"]),
                   AttributionResult.from_dict(d["attribution"]))


def verify(
    attributor: AttributorLike,
    question: str | None,
    chunks: Iterable[str | Chunk | Mapping[str, Any]],
    answer: str,
    *,
    prompt: str | Sequence[Mapping[str, Any]] | None = None,
    min_share: float | None = None,
    patterns: Sequence[str] = DEFAULT_MARKER_PATTERNS,
) -> Verification:
    """Attribute ``answer`` (markers stripped) and give each of its sentences a verdict.

    With ``prompt`` the chunks are located in that prompt (``attribute_prompt``); otherwise the default
    RAG prompt is rendered from ``question``. ``min_share`` defaults to the attributor's.
    """
    chunks = as_chunks(chunks)
    check_answer(answer, none_generates=False)  # verification checks an answer that was written
    if min_share is not None:
        check_min_share(min_share)
    markers = parse_markers(answer, chunks, patterns)
    clean, to_original = strip_markers(answer, markers)
    sentence_spans = split_sentences(answer, [m.span for m in markers])
    clean_spans = _clean_spans(sentence_spans, to_original, clean)
    kept = [i for i, s in enumerate(clean_spans) if s is not None]  # a sentence of markers only has no text
    spans = [clean_spans[i] for i in kept]
    if prompt is None:
        if question is None:
            raise InvalidInputError("verify needs the question (to render the default prompt) or the prompt the LLM saw")
        result = attributor.attribute(question, chunks, clean, sentences=spans)
    else:
        result = attributor.attribute_prompt(prompt, chunks, clean, question=question, sentences=spans)
    markers = by_label(markers, chunks, result.prompt, result.chunk_spans)
    threshold = result.min_share if min_share is None else min_share
    by_sentence = dict(zip(kept, result.sentences))

    verdicts = []
    for i, span in enumerate(sentence_spans):
        own = [m for m in markers if span.start <= m.span.start and m.span.end <= span.end]
        cited = tuple(dict.fromkeys(m.chunk_id for m in own if m.chunk_id is not None))
        attribution = by_sentence.get(i)
        if attribution is None:
            continue
        carrying_ids = carrying(attribution.citations, threshold, attribution.support)
        top_share = max((c.share for c in attribution.citations), default=0.0)
        conflicting = attribution.conflict.chunk_id if attribution.conflict else None
        said = verdict(carrying_ids, cited, bool(own), conflicting)
        verdicts.append(
            SentenceVerdict(span.of(answer), span, tuple(own), said, cited, carrying_ids, top_share,
                            attribution.grounding, attribution.conflict if said == "contradicted" else None)
        )
    return Verification(answer, tuple(verdicts), result)


def _clean_spans(spans: Sequence[Span], to_original: Sequence[int], clean: str) -> list[Span | None]:
    """Map sentence spans of the original answer onto the marker-free answer, trimmed of whitespace;
    None for a sentence that was only markers."""
    out: list[Span | None] = []
    for span in spans:
        a = bisect.bisect_left(to_original, span.start)
        b = bisect.bisect_left(to_original, span.end)
        while a < b and clean[a].isspace():
            a += 1
        while b > a and clean[b - 1].isspace():
            b -= 1
        out.append(Span(a, b) if a < b else None)
    return out


def summarize(verifications: Iterable[Verification]) -> dict[str, Any]:
    """Batch metrics against the attribution.

    - ``citation_precision``: of the (sentence, chunk) pairs the markers cite, the part the attribution
      says carries the sentence;
    - ``citation_recall``: of the pairs the attribution says carry a sentence, the part the markers cite;
    - ``ungrounded_share``: sentences no chunk carries, over all sentences;
    - ``contradicted_share``: sentences whose top chunk says otherwise, over all sentences;
    - ``unknown_markers``: markers that name no chunk (e.g. ``[7]`` with 3 chunks), by key: they cite nothing.
    """
    cited_pairs = carried_pairs = both = sentences = 0
    counts = dict.fromkeys(VERDICTS, 0)
    unknown: dict[str, int] = {}
    for verification in verifications:
        for s in verification.sentences:
            sentences += 1
            counts[s.verdict] += 1
            for key in s.unknown_markers:
                unknown[key] = unknown.get(key, 0) + 1
            cited_pairs += len(s.cited)
            carried_pairs += len(s.attributed)
            both += len(set(s.cited) & set(s.attributed))
    return {
        "sentences": sentences,
        "verdicts": counts,
        "citation_precision": both / cited_pairs if cited_pairs else None,
        "citation_recall": both / carried_pairs if carried_pairs else None,
        "ungrounded_share": counts["ungrounded"] / sentences if sentences else None,
        "contradicted_share": counts["contradicted"] / sentences if sentences else None,
        "unknown_markers": unknown,
    }
