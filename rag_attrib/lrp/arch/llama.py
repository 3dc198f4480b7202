"""Llama layout: RMSNorm, gated SiLU MLP, rotary attention. Shared by Llama, Mistral, Qwen2 and Qwen3."""

from __future__ import annotations

from torch import Tensor

from ..rules import identity_rule, rms_norm, uniform_product
from . import Family, register


def rms_norm_forward(self, hidden_states: Tensor) -> Tensor:
    return rms_norm(hidden_states, self.weight, self.variance_epsilon)


def gated_mlp_forward(self, x: Tensor) -> Tensor:
    gate = identity_rule(self.act_fn, self.gate_proj(x))
    return self.down_proj(uniform_product(gate, self.up_proj(x)))


LLAMA = register(
    Family(
        name="llama",
        model_types=("llama", "mistral", "qwen2", "qwen3"),
        rules={
            "RMSNorm": ("identity (normaliser held constant)", rms_norm_forward),
            "MLP": ("identity on the activation, uniform on the gate product", gated_mlp_forward),
        },
        linear=("ForCausalLM", "Model", "DecoderLayer", "Attention", "RotaryEmbedding", "Linear", "Embedding",
                "ModuleList", "Activation"),
    )
)
