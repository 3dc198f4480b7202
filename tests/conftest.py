"""Shared fixtures: tiny randomly initialised models built from a config (no downloads)."""

from __future__ import annotations

import pytest
from tiny_models import byte_tokenizer, tiny_llama


@pytest.fixture
def llama64():
    return tiny_llama("sdpa")


@pytest.fixture
def tiny_attributor():
    from rag_attrib import Attributor

    tokenizer = byte_tokenizer()
    model = tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=2048, scale=1.0)
    return Attributor(model, tokenizer, max_new_tokens=12)
