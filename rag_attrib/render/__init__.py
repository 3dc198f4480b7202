"""Views of an AttributionResult: ``html`` (a self-contained report) and ``terminal`` (rich)."""

from __future__ import annotations

from ..types import AttributionResult


def grounding_level(grounding: float) -> int:
    """0 (low), 1 (partial) or 2 (most evidence from the chunks): how both views colour a sentence."""
    return 2 if grounding >= 0.5 else 1 if grounding >= 0.25 else 0


def chunk_tokens(result: AttributionResult, chunk_index: int) -> list[tuple[str, list[float]]]:
    """The chunk's text cut at token boundaries, each piece with its relevance for every sentence.

    Byte-level tokens of one character share offsets: the character is shown once and its pieces'
    relevance summed. Without per-token data, the whole text comes back as one zero-relevance piece.
    """
    chunk, span = result.chunks[chunk_index], result.chunk_spans[chunk_index]
    tr = result.token_relevance
    if tr is None:
        return [(chunk.text, [0.0] * len(result.sentences))]
    pieces: list[tuple[str, list[float]]] = []
    shown = span.start
    for j, offset in enumerate(tr.offsets[: tr.answer_start]):
        a, b = max(offset.start, shown), min(offset.end, span.end)
        if a < b:
            pieces.append((result.prompt[a:b], [row[j] for row in tr.values]))
            shown = b
        elif pieces and offset.start < shown <= offset.end and offset.end <= span.end:
            text, rel = pieces[-1]
            pieces[-1] = (text, [x + row[j] for x, row in zip(rel, tr.values)])
    return pieces
