"""Is a sentence supported by some chunk? One calibrated probability from several signals of the model.

The best chunk's AttnLRP share alone separates supported from unsupported sentences when answers copy their
sources, and not when they paraphrase (measured: ``benchmarks/README.md``). A paraphrased but supported
sentence becomes much more likely when its source is in the prompt; an invented one does not. So the support
model combines, per sentence (``features``):

- ``best_share``: the best chunk's share of the sentence's positive relevance (AttnLRP, no extra cost);
- ``gain_per_token``: its log-probability with all chunks minus with none, per token (one extra forward pass);
- ``drop_per_token``: its log-probability with all chunks minus without the chunks that are some sentence's top
  chunk, per token (one extra forward pass);
- ``lp_per_token``, ``grounding``: its log-probability per token with all chunks; the chunks' total share.

A logistic regression over standardised features (``fit_logistic``) turns them into ``support`` in [0, 1],
fitted on the realistic set's dev split (``benchmarks/fit_support.py``, the command and numbers in
``benchmarks/README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

FEATURES = ("best_share", "grounding", "gain_per_token", "drop_per_token", "lp_per_token")


def features(signals: Mapping[str, Any]) -> dict[str, float]:
    """The support features of one sentence from its raw signals: ``shares`` (every chunk's), ``grounding``,
    ``tokens`` (its length in tokens) and its log-probabilities ``lp_all``, ``lp_none``, ``lp_without_tops``."""
    tokens = max(int(signals["tokens"]), 1)
    return {
        "best_share": max(signals["shares"], default=0.0),
        "grounding": float(signals["grounding"]),
        "gain_per_token": (signals["lp_all"] - signals["lp_none"]) / tokens,
        "drop_per_token": (signals["lp_all"] - signals["lp_without_tops"]) / tokens,
        "lp_per_token": signals["lp_all"] / tokens,
    }


@dataclass(frozen=True)
class SupportModel:
    """``support = sigmoid(bias + sum(weight * (feature - mean) / scale))``."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def probability(self, x: Tensor) -> Tensor:
        """``x``: ``[n, len(names)]`` feature rows -> support probabilities ``[n]``."""
        z = (x.double() - torch.tensor(self.means, dtype=torch.float64)) / torch.tensor(self.scales, dtype=torch.float64)
        return torch.sigmoid(z @ torch.tensor(self.weights, dtype=torch.float64) + self.bias)

    def __call__(self, signals: Mapping[str, Any]) -> float:
        row = features(signals)
        return float(self.probability(torch.tensor([[row[n] for n in self.names]], dtype=torch.float64))[0])

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "weights": list(self.weights), "bias": self.bias,
                "means": list(self.means), "scales": list(self.scales)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SupportModel:
        return cls(tuple(d["names"]), tuple(d["weights"]), d["bias"], tuple(d["means"]), tuple(d["scales"]))


def fit_logistic(x: Tensor, y: Tensor, names: Sequence[str], l2: float = 1.0, steps: int = 50) -> SupportModel:
    """L2-regularised logistic regression by Newton's method on standardised features (no bias penalty)."""
    x, y = x.double(), y.double()
    means = x.mean(0)
    scales = x.std(0, unbiased=False).clamp(min=1e-12)
    z = torch.cat([(x - means) / scales, torch.ones(len(x), 1, dtype=torch.float64)], 1)
    w = torch.zeros(z.shape[1], dtype=torch.float64)
    penalty = torch.full((z.shape[1],), l2, dtype=torch.float64)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = torch.sigmoid(z @ w)
        grad = z.T @ (p - y) + penalty * w
        hessian = (z.T * (p * (1 - p))) @ z + torch.diag(penalty) + 1e-9 * torch.eye(len(w), dtype=torch.float64)
        step = torch.linalg.solve(hessian, grad)
        w = w - step
        if float(step.abs().max()) < 1e-10:
            break
    return SupportModel(tuple(names), tuple(float(v) for v in w[:-1]), float(w[-1]),
                        tuple(float(v) for v in means), tuple(float(v) for v in scales))


def without_chunks(text: str, spans: Sequence[Any], remove: Sequence[int]) -> str:
    """The prompt text with the chunks ``remove`` (indices into ``spans``) cut out."""
    cut = sorted((spans[i] for i in set(remove)), key=lambda span: span.start)
    out, pos = [], 0
    for span in cut:
        out.append(text[pos : span.start])
        pos = span.end
    return "".join(out) + text[pos:]


# Fitted on the realistic set's dev split with Qwen2.5-Coder-0.5B-Instruct, the default model, and used with it only
# (``OfflineModel.support``): benchmarks/fit_support.py; the command and the held-out figures are in
# benchmarks/README.md, the dev features in benchmarks/support/.
SUPPORT_QWEN = SupportModel(
    names=('best_share', 'grounding', 'gain_per_token', 'drop_per_token', 'lp_per_token'),
    weights=(0.8985089624940799, 0.9550512262632381, 0.5304391627009437, 0.7948695222725011, 0.5022870886154891),
    bias=1.9811289355642732,
    means=(0.40178293088502853, 0.7446430474860507, 0.4447488848099276, 0.3815004840860831, -2.822634313951148),
    scales=(0.1708612286406429, 0.10801596931390281, 0.6198616617532986, 0.5402844226700643, 0.7952945740286104),
)
