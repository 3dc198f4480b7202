"""Token relevance -> chunk scores -> citations and the grounding share.

For one sentence:
- ``score(chunk)`` = summed relevance of the chunk's tokens (signed);
- ``share(chunk)`` = positive relevance in the chunk / positive relevance over the context tokens, where the
  context is the prompt's content tokens (no BOS, no special or chat-template tokens) plus the answer
  written before this sentence;
- ``grounding`` = the sum of the shares: the part of the evidence that came from the retrieved chunks;
- ``cited`` = the chunks whose share is at least ``min_share``, by score.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .types import Citation, Span

# Measured with benchmarks/bench_thresholds.py on the embedded model: the best chunk's share is 0.45-0.66 for
# sentences stated in one chunk and 0.13-0.25 for sentences stated in none; the demo's two-source sentence
# gives its main source 0.29. 0.27 sits above every unsupported sentence and below every supported one.
DEFAULT_MIN_SHARE = 0.27


def sentence_citations(
    relevance: Tensor,
    chunk_ids: Sequence[str],
    chunk_token_spans: Sequence[tuple[int, int]],
    context_mask: Tensor,
    min_share: float = DEFAULT_MIN_SHARE,
) -> tuple[tuple[Citation, ...], tuple[str, ...], float]:
    """Citations (all chunks, by score), the cited ids, and the grounding share for one sentence.

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
    return tuple(citations), cited_ids(citations, min_share), grounding


def cited_ids(citations: Sequence[Citation], min_share: float) -> tuple[str, ...]:
    """The selection rule: chunks carrying at least ``min_share`` of the positive relevance, in the given order."""
    return tuple(c.chunk_id for c in citations if c.share >= min_share and c.score > 0)


def content_mask(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], content_spans: Sequence[Span], special_ids: set[int]
) -> Tensor:
    """Prompt tokens that are content: inside a message text, not special, and not the first token (the
    attention sink, which gathers relevance whatever it is)."""
    mask = torch.zeros(len(ids), dtype=torch.bool)
    for i, (token_id, (s, e)) in enumerate(zip(ids, offsets)):
        if i == 0 or token_id in special_ids or e <= s:
            continue
        mask[i] = any(span.start < e <= span.end for span in content_spans)
    return mask


def context_mask(
    seq_len: int,
    content_token_mask: Tensor,
    answer_start: int,
    sentence_start: int,
) -> Tensor:
    """Tokens that count as context for a sentence starting at token ``sentence_start``.

    ``content_token_mask`` (length ``answer_start``) marks the prompt tokens that are content (not BOS,
    special or template tokens); the answer tokens before the sentence count too.
    """
    mask = torch.zeros(seq_len, dtype=torch.bool)
    mask[:answer_start] = content_token_mask
    mask[answer_start:sentence_start] = True
    return mask
