"""Metrics on a method's ``scores[n_sentences, n_chunks]``: faithfulness by ablation, plausibility, flagging.

- Faithfulness (per sentence, teacher forcing): remove the top-k chunks by the method's scores from the
  prompt and report the drop of the sentence's log-probability, ``logp(full) - logp(without top-k)``
  (``comp@k``, higher is better); keep only the top-k chunks and report the same drop (``suff@k``, lower
  is better). The prompt is re-rendered without the chunks (``render_rag_prompt``), never masked.
- Plausibility, on sentences with a gold chunk: ``hit@1`` (the top chunk is gold) and the reciprocal rank
  of the first gold chunk. Ties are scored by their expectation under a random order of the tied chunks,
  so a method that gives every chunk the same score gets chance level, not the luck of the list order.
- Unsupported sentences: ``flagged`` = the best chunk's share is below ``min_share`` (the rule of
  ``verify``), for methods with shares; ``auroc`` = how well the best chunk's share (or, without shares,
  its score) separates supported from unsupported sentences, threshold-free (0.5 = chance).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..types import Span


def expected_hit_at_1(scores: Sequence[float], gold: Sequence[int]) -> float:
    """Probability that the top chunk is a gold chunk, ties in random order."""
    if not gold:
        raise ValueError("hit@1 needs at least one gold chunk")
    top = max(scores)
    tied = [j for j, s in enumerate(scores) if s == top]
    return sum(j in gold for j in tied) / len(tied)


def expected_reciprocal_rank(scores: Sequence[float], gold: Sequence[int]) -> float:
    """Expected 1 / (rank of the first gold chunk), ties in random order."""
    if not gold:
        raise ValueError("the reciprocal rank needs at least one gold chunk")
    best = max(scores[j] for j in gold)
    above = sum(s > best for s in scores)  # all non-gold
    tied = sum(s == best for s in scores)
    golds = sum(scores[j] == best for j in gold)
    # the first gold among `tied` items, `golds` of them gold, is at position p with P = C(tied-p, golds-1) / C(tied, golds)
    total = math.comb(tied, golds)
    return sum(math.comb(tied - p, golds - 1) / total / (above + p) for p in range(1, tied - golds + 2))


def ranking(scores: Sequence[float], tie_break: Sequence[float]) -> list[int]:
    """Chunk indices by decreasing score; ties by ``tie_break`` (a fixed random key per chunk)."""
    return sorted(range(len(scores)), key=lambda j: (-scores[j], tie_break[j]))


def tie_break_keys(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


def ablation_drops(
    scores: Tensor,
    base: Tensor,
    logprobs: Callable[[frozenset[int]], Tensor],
    ks: Sequence[int],
    tie_break: Sequence[float],
) -> dict[str, list[float]]:
    """Per sentence: ``comp@k`` and ``suff@k`` drops of its log-probability.

    ``logprobs(kept)`` gives every sentence's log-probability with only the chunks ``kept`` in the prompt
    (callers cache it: many methods remove the same chunks); ``base`` is with all chunks.
    """
    n_sentences, n_chunks = scores.shape
    out: dict[str, list[float]] = {}
    for k in ks:
        comp, suff = [], []
        for i in range(n_sentences):
            top = ranking(scores[i].tolist(), tie_break)[: min(k, n_chunks)]
            without = frozenset(range(n_chunks)) - frozenset(top)
            comp.append(float(base[i] - logprobs(without)[i]))
            suff.append(float(base[i] - logprobs(frozenset(top))[i]))
        out[f"comp@{k}"], out[f"suff@{k}"] = comp, suff
    return out


def flagged(shares: Tensor, min_share: float) -> list[bool]:
    """Per sentence: no chunk's share reaches ``min_share`` (``verify``'s ``ungrounded``)."""
    return [bool(row.max() < min_share) for row in shares]


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """P(a positive scores above a negative), ties counting one half; None without both classes."""
    if not positive or not negative:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def support_signal(scores: Tensor, shares: Tensor | None) -> list[float]:
    """Per sentence, how strongly its best chunk carries it: the best share, or the best score."""
    return [float(x) for x in (shares if shares is not None else scores).max(-1).values]


def as_matrix(scores: Tensor, n_sentences: int, n_chunks: int, name: str) -> Tensor:
    scores = torch.as_tensor(scores, dtype=torch.float64).cpu()
    if tuple(scores.shape) != (n_sentences, n_chunks):
        raise ValueError(f"method {name!r} returned scores of shape {tuple(scores.shape)}, expected "
                         f"({n_sentences}, {n_chunks}) = (sentences, chunks)")
    if not torch.isfinite(scores).all():
        raise ValueError(f"method {name!r} returned non-finite scores")
    return scores


def relative_position(index: int, n: int) -> float:
    """Where chunk ``index`` of ``n`` sits in the prompt: 0 first, 1 last."""
    return index / (n - 1) if n > 1 else 0.5


def third(position: float) -> str:
    """"first", "middle" or "last" third of the prompt for a relative position."""
    return "first" if position < 1 / 3 else "last" if position > 2 / 3 else "middle"


def evidence_hit(predicted: Span | None, gold: Sequence[Span]) -> float:
    """1 when most of the predicted span's characters lie inside the gold evidence spans, else 0."""
    if predicted is None or predicted.end <= predicted.start:
        return 0.0
    inside = sum(max(0, min(predicted.end, g.end) - max(predicted.start, g.start)) for g in gold)
    return float(inside > (predicted.end - predicted.start) / 2)
