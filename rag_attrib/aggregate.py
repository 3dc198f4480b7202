"""Token relevance -> chunk scores -> citations and the grounding share.

For one sentence:
- ``score(chunk)`` = summed relevance of the chunk's tokens (signed);
- ``share(chunk)`` = positive relevance in the chunk / positive relevance over the context tokens, where the
  context is the prompt's content tokens (no BOS, no special or chat-template tokens) plus the answer
  written before this sentence;
- ``grounding`` = the sum of the shares: the part of the evidence that came from the retrieved chunks;
- ``cited`` = the chunks whose share is at least ``min_share``, by score; with a support model
  (``rag_attrib.support``), none when its support is below one half, and the top chunk when it is supported
  but no share reaches ``min_share`` (``verdicts.carrying``);
- ``evidence`` of a chunk = its sentences (or token windows) ranked by their part of the chunk's positive
  relevance: the passage a reader highlights, at no extra model cost.
"""

from __future__ import annotations

import bisect
import dataclasses
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import InvalidInputError
from .text import first_visible, nonspace_map, split_sentences
from .types import Chunk, Citation, Evidence, Span

# For a model without a threshold of its own (the named offline models bring theirs, ``rag_attrib/calibration/``):
# between the best shares of sentences stated in one chunk and in none, on the invented sets
# (benchmarks/faithfulness.md, run with any model by ``benchmarks/bench_thresholds.py``).
DEFAULT_MIN_SHARE = 0.27


def sentence_citations(
    relevance: Tensor,
    chunk_ids: Sequence[str],
    chunk_token_spans: Sequence[tuple[int, int]],
    context_mask: Tensor,
) -> tuple[tuple[Citation, ...], float]:
    """Citations (all chunks, by score) and the grounding share for one sentence; which of them are cited is
    ``carrying``'s choice.

    ``relevance`` is the sentence's row of token relevance; ``context_mask`` marks the tokens that count
    as context for it. Chunk tokens must lie inside the context.
    """
    relevance = relevance.to(torch.promote_types(relevance.dtype, torch.float32))
    positive = relevance.clamp(min=0)
    total = float(positive[context_mask].sum())
    citations = []
    for chunk_id, (a, b) in zip(chunk_ids, chunk_token_spans, strict=True):
        score = float(relevance[a:b].sum())
        share = float(positive[a:b].sum()) / total if total > 0 else 0.0
        citations.append(Citation(chunk_id=chunk_id, score=score, share=share))
    citations.sort(key=lambda c: c.score, reverse=True)
    grounding = sum(c.share for c in citations)
    return tuple(citations), grounding


def cited_ids(citations: Sequence[Citation], min_share: float) -> tuple[str, ...]:
    """The selection rule: chunks carrying at least ``min_share`` of the positive relevance, in the given order."""
    return tuple(c.chunk_id for c in citations if c.share >= min_share and c.score > 0)


def check_min_share(min_share: float) -> float:
    """``min_share`` is a share of relevance: a number in [0, 1]."""
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0 <= min_share <= 1:
        raise InvalidInputError(f"min_share must be a number in [0, 1] (a share of the relevance), got {min_share!r}")
    return float(min_share)


# Evidence: a unit longer than this many tokens (code, a table, a run-on line) is cut into windows of this size.
EVIDENCE_WINDOW = 48
EVIDENCE_MAX = 3  # at most this many passages per citation
EVIDENCE_RATIO = 0.5  # ... each carrying at least this part of the best passage's share


@dataclass(frozen=True)
class EvidenceUnits:
    """A chunk cut into the passages evidence can point at: character spans into the chunk's text and the
    prompt tokens of each."""

    spans: tuple[Span, ...]
    tokens: tuple[tuple[int, ...], ...]
    source: tuple[int, int] | None  # (text_offset, start_index): chunk text[text_offset] is source[start_index]


def evidence_units(
    chunk: Chunk, prompt: str, chunk_span: Span, offsets: Sequence[tuple[int, int]], token_range: tuple[int, int]
) -> EvidenceUnits:
    """Cut a chunk into sentences (the answers' splitter), and any sentence of more than ``EVIDENCE_WINDOW`` tokens
    into windows; map every prompt token of the chunk to its passage.

    A token goes with the passage holding its first non-space character (``" Har"`` with the sentence starting
    at "Har"). A sentence's first passage starts on its first character and its last ends on its last; between
    windows only whitespace is left out, and they are cut before a word where they can be, else never inside a
    character nor before a combining mark, so that no passage starts mid-word or on an accent."""
    in_prompt = chunk_span.of(prompt)
    to_chunk = nonspace_map(in_prompt, chunk.text)  # the prompt may re-wrap the chunk's whitespace
    sentences = split_sentences(in_prompt)
    starts = [s.start for s in sentences]
    grouped: list[list[tuple[int, int]]] = [[] for _ in sentences]  # (token, its first character) per sentence
    for t in range(*token_range):
        s, e = offsets[t]
        c = first_visible(in_prompt, s - chunk_span.start, e - chunk_span.start)
        k = -1 if c is None else bisect.bisect_right(starts, c) - 1
        if k >= 0 and c < sentences[k].end:
            grouped[k].append((t, c))
    spans, tokens = [], []
    for sentence, group in zip(sentences, grouped):
        windows = _windows(in_prompt, group, offsets)
        bounds = [sentence.start] + [window[0][1] for window in windows[1:]] + [sentence.end]
        for window, a, b in zip(windows, bounds, bounds[1:]):
            b = len(in_prompt[:b].rstrip()) if b < sentence.end else b  # the whitespace before the next window
            spans.append(Span(to_chunk(a), to_chunk(b - 1) + 1))
            tokens.append(tuple(t for t, _ in window))
    return EvidenceUnits(tuple(spans), tuple(tokens), source_offsets(chunk))


def _windows(text: str, group: list[tuple[int, int]], offsets: Sequence[tuple[int, int]]
             ) -> list[list[tuple[int, int]]]:
    """``group`` (a sentence's tokens and their first characters) cut into windows of at most
    ``EVIDENCE_WINDOW`` tokens, each cut as late as possible before the best kind of token there is: one
    starting a word, else one starting a character that is no combining mark, else any."""

    def cut_quality(i: int) -> int:
        (t, c), (previous, _) = group[i], group[i - 1]
        if offsets[t][0] < offsets[previous][1]:  # the pieces of one character (byte-level BPE)
            return 0
        if c == 0 or text[c - 1].isspace():
            return 2
        return 0 if unicodedata.category(text[c]).startswith("M") else 1

    windows, i = [], 0
    while len(group) - i > EVIDENCE_WINDOW:
        cut = max(range(i + 1, i + EVIDENCE_WINDOW + 1), key=lambda j: (cut_quality(j), j))
        windows.append(group[i:cut])
        i = cut
    return [*windows, group[i:]]


def source_offsets(chunk: Chunk) -> tuple[int, int] | None:
    """Where the chunk sits in its source document, from its metadata: ``start_index`` (the source offset of
    its text, as LangChain's text splitters write it) and ``text_offset`` (where that text starts inside the
    chunk's text when something precedes it, e.g. LlamaIndex's metadata header; default 0)."""
    start, offset = chunk.metadata.get("start_index"), chunk.metadata.get("text_offset", 0)
    valid = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (start, offset))
    return (offset, start) if valid else None


def evidence(relevance: Tensor, units: EvidenceUnits) -> tuple[Evidence, ...]:
    """The passages carrying a sentence's relevance in one chunk, best first (see ``EVIDENCE_RATIO``)."""
    positive = relevance.clamp(min=0)
    mass = [float(positive[list(tokens)].sum()) if tokens else 0.0 for tokens in units.tokens]
    total = sum(mass)
    if total <= 0:
        return ()
    ranked = sorted(range(len(mass)), key=lambda i: -mass[i])
    best = mass[ranked[0]]
    out = []
    for i in ranked[:EVIDENCE_MAX]:
        if mass[i] < EVIDENCE_RATIO * best:
            break
        span, source = units.spans[i], None
        if units.source is not None and span.start >= units.source[0]:  # not in a header before the source text
            shift = units.source[1] - units.source[0]
            source = Span(span.start + shift, span.end + shift)
        out.append(Evidence(span, mass[i] / total, source))
    return tuple(out)


def with_evidence(
    citations: Sequence[Citation], chunk_ids: Sequence[str], relevance: Tensor,
    units: Callable[[int], EvidenceUnits], which: Sequence[str],
) -> tuple[Citation, ...]:
    """``citations`` with the evidence of the chunks named in ``which`` filled in; ``units(i)`` cuts chunk ``i``
    (called only for those chunks, so uncited chunks are never split)."""
    index = {chunk_id: i for i, chunk_id in enumerate(chunk_ids)}
    return tuple(dataclasses.replace(c, evidence=evidence(relevance, units(index[c.chunk_id])))
                 if c.chunk_id in which else c for c in citations)
