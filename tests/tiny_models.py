"""Tiny randomly initialised Llamas built from a config and an offline byte tokenizer (no downloads).

A module of its own (not conftest) so that tests can import it by a name no other test folder shares."""

from __future__ import annotations

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



CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def byte_tokenizer(chat_template: bool = True, bos: bool = False):
    """A fast tokenizer with one token per byte plus chat special tokens (259 ids), built offline.

    ``bos=True``: it adds its BOS when asked for special tokens, as Gemma's does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", bos_token="<|im_start|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|endoftext|>"]})
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    if bos:
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single="<|im_start|> $A", special_tokens=[("<|im_start|>", tokenizer.bos_token_id)]
        )
    return tokenizer

