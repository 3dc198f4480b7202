"""Gemma 2 and Gemma 3: ``(1 + weight)`` RMSNorms, gated GELU MLPs, tanh soft-capping.

Soft-capping ``cap * tanh(x / cap)`` is an element-wise non-linearity: it gets the identity rule, both
on the attention scores (Gemma 2's eager kernel) and on the final logits.
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

from ..rules import identity_rule, normalise
from .base import Family, register
from .llama import MLP_RULE, NORM_RULE, PLAIN, gated_mlp_forward


def gemma_rms_norm_forward(self, x: Tensor) -> Tensor:
    # Gemma normalises and scales in float32, then casts: (x_hat * (1 + weight.float())).type_as(x)
    return (normalise(x, self.eps) * (1.0 + self.weight.float())).type_as(x)


def eager_attention_softcapped(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                               softcap=None, **kwargs):
    """Gemma 2's eager attention with the identity rule on the scores' soft-capping; without soft-capping,
    the modeling file's own eager kernel."""
    if softcap is None:
        own = sys.modules[type(module).__module__].eager_attention_forward
        return own(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    from transformers.models.gemma2.modeling_gemma2 import repeat_kv

    if scaling is None:
        scaling = module.head_dim**-0.5
    key_states = repeat_kv(key, module.num_key_value_groups)
    value_states = repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    scores = identity_rule(_tanh_cap(softcap), scores)
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value_states).transpose(1, 2).contiguous()
    return output, weights


def _tanh_cap(cap: float):
    def capped(x: Tensor) -> Tensor:  # the three steps of transformers' eager kernel, same rounding
        return torch.tanh(x / cap) * cap

    return capped


def prepare_logit_softcap(model: nn.Module, config) -> list:
    """Move the final soft-capping into the LM head, under the identity rule."""
    cap = getattr(config, "final_logit_softcapping", None)
    head = getattr(model, "lm_head", None)
    if cap is None or head is None:
        return []
    config.final_logit_softcapping = None  # the patched config copy only

    def capped_head(self, hidden_states: Tensor) -> Tensor:
        return identity_rule(_tanh_cap(cap), nn.functional.linear(hidden_states, self.weight, self.bias))

    return [(head, capped_head)]


GEMMA = register(
    Family(
        name="gemma",
        model_types=("gemma2", "gemma3_text"),
        rules={"RMSNorm": (NORM_RULE, gemma_rms_norm_forward), "MLP": (MLP_RULE, gated_mlp_forward)},
        plain=PLAIN,
        eager_attention=eager_attention_softcapped,
        prepare=prepare_logit_softcap,
    )
)
