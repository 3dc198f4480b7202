"""Mixture of experts on the Llama layout: Mixtral and Qwen3-MoE.

Each expert is a gated MLP (identity + uniform rules); its output times the routing weight is a product
of two activations (uniform rule). The router's softmax keeps its plain gradient, as attention's does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..rules import identity_rule, uniform_product
from .base import Family, register
from .llama import MLP_RULE, NORM_RULE, PLAIN, gated_mlp_forward, rms_norm_forward


def experts_forward(self, hidden_states: Tensor, top_k_index: Tensor, top_k_weights: Tensor) -> Tensor:
    """transformers' reference loop over the experts, with the rules on both products."""
    final_hidden_states = torch.zeros_like(hidden_states)
    with torch.no_grad():
        expert_mask = nn.functional.one_hot(top_k_index, num_classes=self.num_experts + 1).permute(2, 1, 0)
        expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
    for expert_idx in expert_hit:
        expert_idx = expert_idx[0]
        if expert_idx == self.num_experts:
            continue
        top_k_pos, token_idx = torch.where(expert_mask[expert_idx])
        gate, up = nn.functional.linear(hidden_states[token_idx], self.gate_up_proj[expert_idx]).chunk(2, dim=-1)
        out = nn.functional.linear(uniform_product(identity_rule(self.act_fn, gate), up), self.down_proj[expert_idx])
        out = uniform_product(out, top_k_weights[token_idx, top_k_pos, None])
        final_hidden_states.index_add_(0, token_idx, out.to(final_hidden_states.dtype))
    return final_hidden_states


MOE = register(
    Family(
        name="moe",
        model_types=("mixtral", "qwen3_moe"),
        rules={
            "RMSNorm": (NORM_RULE, rms_norm_forward),
            "Experts": ("identity + uniform in each expert, uniform on routing weight x expert output",
                        experts_forward),
            "MLP": (MLP_RULE, gated_mlp_forward),  # Qwen3-MoE's dense layers
        },
        plain=(*PLAIN, "SparseMoeBlock", "TopKRouter"),
    )
)
