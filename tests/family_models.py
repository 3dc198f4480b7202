"""Tiny randomly initialised models of every supported family, built from a config (no downloads)."""

from __future__ import annotations

import torch
import transformers as T

COMMON = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=97, max_position_embeddings=128, bos_token_id=1,
              eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)

CONFIGS = {
    "llama": lambda: T.LlamaConfig(**COMMON),
    "mistral": lambda: T.MistralConfig(**COMMON, sliding_window=8),
    "qwen2": lambda: T.Qwen2Config(**COMMON),
    "qwen3": lambda: T.Qwen3Config(**COMMON, head_dim=16),
    # grouped_mm (the default experts kernel) has no float64; the reference loop is what we patch anyway
    "qwen3_moe": lambda: T.Qwen3MoeConfig(**COMMON, head_dim=16, num_experts=4, num_experts_per_tok=2,
                                          moe_intermediate_size=32, decoder_sparse_step=1,
                                          experts_implementation="eager"),
    "mixtral": lambda: T.MixtralConfig(**COMMON, num_local_experts=4, num_experts_per_tok=2,
                                       experts_implementation="eager"),
    "gemma2": lambda: T.Gemma2Config(**COMMON, head_dim=16, sliding_window=8, attn_logit_softcapping=5.0,
                                     final_logit_softcapping=3.0),
    "gemma3_text": lambda: T.Gemma3TextConfig(**COMMON, head_dim=16, sliding_window=8,
                                              final_logit_softcapping=3.0),
    "phi3": lambda: T.Phi3Config(**COMMON),
    "olmo2": lambda: T.Olmo2Config(**COMMON),
    "granite": lambda: T.GraniteConfig(**COMMON, embedding_multiplier=2.0, residual_multiplier=0.5,
                                       attention_multiplier=0.3, logits_scaling=2.0),
    "gpt2": lambda: T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=97, n_positions=128, bos_token_id=1,
                                 eos_token_id=2),
}
FAMILIES = sorted(CONFIGS)
EAGER_ONLY = {"gemma2"}  # transformers runs Gemma 2 with eager attention only (soft-capping)


def tiny_model(model_type: str, attn: str = "sdpa", seed: int = 0, dtype=torch.float64, scale: float = 2.0,
               **overrides):
    config = CONFIGS[model_type]()
    for key, value in overrides.items():
        setattr(config, key, value)
    types = getattr(config, "layer_types", None)
    if types is not None and len(types) != config.num_hidden_layers:  # more layers: repeat the pattern
        config.layer_types = [types[i % len(types)] for i in range(config.num_hidden_layers)]
    config._attn_implementation = "eager" if model_type in EAGER_ONLY else attn
    torch.manual_seed(seed)
    model = T.AutoModelForCausalLM.from_config(config).to(dtype).eval()
    with torch.no_grad():  # random init is near zero everywhere: spread it so every rule matters
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.mul_(scale)
            elif "norm" in name or "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def zero_attention_outputs(model) -> None:
    """Zero every attention output projection: relevance then flows only through the family's own rules
    (norms, MLPs, residuals), which are conservative, and never through the (non-conservative) softmax."""
    with torch.no_grad():
        for module in model.modules():
            if type(module).__name__.endswith("Attention"):
                for name in ("o_proj", "c_proj", "dense"):
                    projection = getattr(module, name, None)
                    if projection is not None:
                        projection.weight.zero_()
                        if getattr(projection, "bias", None) is not None:
                            projection.bias.zero_()
