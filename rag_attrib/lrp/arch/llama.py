"""The Llama layout: RMSNorm, gated SiLU MLP, rotary attention through the AttentionInterface.

Llama (incl. 3.x), Mistral, Qwen2, Qwen3 (whose per-head q/k norms are RMSNorms too) and Granite (whose
extra multipliers are linear) share it exactly; OLMo 2 differs only in its norm's dtype path and Phi-3
only in its fused gate/up projection.
"""

from __future__ import annotations

from torch import Tensor

from ..rules import identity_rule, normalise, rms_norm, uniform_product
from .base import Family, register

PLAIN = ("ForCausalLM", "Model", "DecoderLayer", "Attention", "RotaryEmbedding", "Linear", "Embedding",
         "ModuleList", "Dropout")


def rms_norm_forward(self, hidden_states: Tensor) -> Tensor:
    return rms_norm(hidden_states, self.weight, self.variance_epsilon)


def olmo2_rms_norm_forward(self, hidden_states: Tensor) -> Tensor:
    # OLMo 2 scales in float32 before casting back: (weight * x_hat).to(dtype)
    return (self.weight * normalise(hidden_states, self.variance_epsilon)).to(hidden_states.dtype)


def gated_mlp_forward(self, x: Tensor) -> Tensor:
    gate = identity_rule(self.act_fn, self.gate_proj(x))
    return self.down_proj(uniform_product(gate, self.up_proj(x)))


def fused_gated_mlp_forward(self, hidden_states: Tensor) -> Tensor:
    gate, up = self.gate_up_proj(hidden_states).chunk(2, dim=-1)
    return self.down_proj(uniform_product(up, identity_rule(self.activation_fn, gate)))


NORM_RULE = "identity (normaliser held constant)"
MLP_RULE = "identity on the activation, uniform on the gate product"

LLAMA = register(
    Family(
        name="llama",
        model_types=("llama", "mistral", "qwen2", "qwen3", "granite"),
        rules={"RMSNorm": (NORM_RULE, rms_norm_forward), "MLP": (MLP_RULE, gated_mlp_forward)},
        plain=PLAIN,
    )
)

OLMO2 = register(
    Family(
        name="olmo2",
        model_types=("olmo2",),
        rules={"RMSNorm": (NORM_RULE, olmo2_rms_norm_forward), "MLP": (MLP_RULE, gated_mlp_forward)},
        plain=PLAIN,
    )
)

PHI3 = register(
    Family(
        name="phi3",
        model_types=("phi3",),
        rules={"RMSNorm": (NORM_RULE, rms_norm_forward), "MLP": (MLP_RULE, fused_gated_mlp_forward)},
        plain=PLAIN,
    )
)
