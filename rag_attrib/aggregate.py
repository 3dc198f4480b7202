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

from .errors import InvalidInputError
from .types import Citation

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


def check_min_share(min_share: float) -> float:
    """``min_share`` is a share of relevance: a number in [0, 1]."""
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0 <= min_share <= 1:
        raise InvalidInputError(f"min_share must be a number in [0, 1] (a share of the relevance), got {min_share!r}")
    return float(min_share)
