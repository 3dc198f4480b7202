"""GPT-2: LayerNorm, a GELU MLP on Conv1D projections, learned position embeddings."""

from __future__ import annotations

from torch import Tensor

from ..rules import identity_rule, layer_norm
from .base import Family, register


def layer_norm_forward(self, x: Tensor) -> Tensor:
    return layer_norm(x, self)


def gelu_mlp_forward(self, hidden_states: Tensor) -> Tensor:
    hidden_states = identity_rule(self.act, self.c_fc(hidden_states))
    return self.dropout(self.c_proj(hidden_states))


GPT2 = register(
    Family(
        name="gpt2",
        model_types=("gpt2",),
        rules={
            "LayerNorm": ("identity (standard deviation held constant)", layer_norm_forward),
            "MLP": ("identity on the GELU", gelu_mlp_forward),
        },
        plain=("LMHeadModel", "Model", "Block", "Attention", "Conv1D", "Linear", "Embedding", "ModuleList",
               "Dropout"),
    )
)
