"""Shared fixtures: tiny randomly initialised models built from a config (no downloads)."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_llama_config(attn: str = "sdpa", **overrides) -> LlamaConfig:
    params = dict(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as in Llama 3 and Qwen
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
    )
    params.update(overrides)
    config = LlamaConfig(**params)
    config._attn_implementation = attn
    return config


def tiny_llama(attn: str = "sdpa", seed: int = 0, dtype: torch.dtype = torch.float64, scale: float = 3.0, **overrides) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(attn, **overrides)).to(dtype).eval()
    # Random init gives near-zero logits; scale the weights up a little so attention is not uniform.
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(scale)
    return model


@pytest.fixture
def llama64():
    return tiny_llama("sdpa")
