"""Views of an AttributionResult: ``html`` (a self-contained report) and ``terminal`` (rich).

What both views show is decided here once: whether a chunk carries a sentence, the chunk text cut into tokens
with their relevance, the colour scale of a sentence's heat map, and which tokens are the sentence's evidence.
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

from ..text import nonspace_map
from ..types import AttributionResult, SentenceAttribution, Span
from ..verdicts import SUPPORTED

CARRIED = ("no chunk carries it (nothing cited)", "carried by a chunk (cited)")


def carried(sentence: SentenceAttribution) -> int:
    """1 when some chunk carries the sentence (it cites one), else 0: how both views mark a sentence. The same
    decision as ``verify``'s ``ungrounded`` (the support model's, where there is one), never the grounding share,
    which a sentence that no chunk states can reach too."""
    return int(bool(sentence.cited))


def citation_rule(result: AttributionResult) -> str:
    """How the result chose its cited chunks (``aggregate.carrying``), in a few words for a header."""
    rule = f"cited when share >= {result.min_share:.0%}"
    if result.has_support:
        rule = f"cited when support >= {SUPPORTED:.0%}: the chunks with share >= {result.min_share:.0%}, else the top one"
    return rule


def short(text: str, limit: int = 80) -> str:
    """One line of at most ``limit`` characters (whitespace collapsed, an ellipsis when cut)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:  # prefer a word boundary when there is one near the end
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:.") + "…"


class Piece(NamedTuple):
    """A piece of a chunk as the views show it: its text, where it starts in ``Chunk.text`` (the index evidence
    spans use), and its relevance for every sentence."""

    text: str
    start: int
    relevance: list[float]


def chunk_tokens(result: AttributionResult, chunk_index: int) -> list[Piece]:
    """The chunk's text cut at token boundaries, each piece with its relevance for every sentence.

    Byte-level tokens of one character share offsets: the character is shown once and its pieces'
    relevance summed. Without per-token data the text comes back cut only where evidence starts or ends, with
    zero relevance.
    """
    chunk, span = result.chunks[chunk_index], result.chunk_spans[chunk_index]
    tr = result.token_relevance
    if tr is None:
        cuts = sorted({0, len(chunk.text)} | {x for s in evidence_spans(result, chunk.id) for x in (s.start, s.end)})
        zeros = [0.0] * len(result.sentences)
        return [Piece(chunk.text[a:b], a, zeros) for a, b in pairwise(cuts) if a < b]
    to_chunk = nonspace_map(span.of(result.prompt), chunk.text)
    pieces: list[Piece] = []
    shown = span.start
    for j, offset in enumerate(tr.offsets[: tr.answer_start]):
        a, b = max(offset.start, shown), min(offset.end, span.end)
        if a < b:
            pieces.append(Piece(result.prompt[a:b], to_chunk(a - span.start), [row[j] for row in tr.values]))
            shown = b
        elif pieces and offset.start < shown <= offset.end and offset.end <= span.end:
            last = pieces[-1]
            pieces[-1] = last._replace(relevance=[x + row[j] for x, row in zip(last.relevance, tr.values)])
    return pieces


def sentence_peaks(result: AttributionResult, pieces: list[list[Piece]]) -> list[float]:
    """Per sentence, the largest |relevance| of any chunk token: full colour on that sentence's heat map, so all
    chunks of one sentence share a scale (a chunk with a small share stays pale)."""
    return [max((abs(p.relevance[i]) for chunk in pieces for p in chunk), default=0.0)
            for i in range(len(result.sentences))]


def evidence_spans(result: AttributionResult, chunk_id: str, sentence_index: int | None = None) -> list[Span]:
    """The evidence spans (into the chunk's text) of one sentence's citation of a chunk, or of every sentence's."""
    sentences = result.sentences if sentence_index is None else [result.sentences[sentence_index]]
    return [e.span for s in sentences for c in s.citations if c.chunk_id == chunk_id for e in c.evidence]


def in_spans(position: int, spans: list[Span]) -> bool:
    return any(s.start <= position < s.end for s in spans)
