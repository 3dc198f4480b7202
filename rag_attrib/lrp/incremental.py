"""The engine for an answer that grows: the prompt's forward pass with its graph kept, extended by the answer's
tokens through the model's key/value cache (whose tensors keep their graph too), and one backward per finished
sentence through the graph collected so far.

A sentence's target depends only on the tokens up to its end (the model is causal), so its relevance from the
graph of the answer so far equals its relevance from the whole answer's graph (``sentence_relevance``): each
token runs forward once, and a sentence's backward goes through the positions before its end only. The rules of
``attnlrp`` live in the graph (autograd functions recorded while patched), so the model is patched only while a
step runs forward, and other threads may use it between steps.

Each step's attention keeps the keys and values of every position before it for its backward pass, so steps
should be few: ``rag_attrib.stream`` runs a sentence's tokens in one step when the sentence is settled (one token
per step would keep the whole cache once per token).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor
from transformers import DynamicCache, PreTrainedModel

from ..errors import InvalidInputError
from ..types import TARGETS
from .patch import attnlrp, model_lock
from .relevance import Backward


class GrowingGraph:
    """Prompt + answer so far on the patched model, with the graph kept for the sentences' backward passes.

    ``extend(ids)`` runs new answer tokens forward (the cache holds the keys and values of everything before,
    with their graph); ``relevance(spans, skip)`` gives the sentences' relevance over the tokens so far.
    ``grad=False`` keeps no graph (for ``generator`` only: ``memory="low"`` recomputes each sentence instead).
    """

    def __init__(self, model: PreTrainedModel, prompt_ids: Sequence[int], target: str = "token",
                 grad: bool = True) -> None:
        if target not in TARGETS:
            raise InvalidInputError(f"target must be one of {TARGETS}, got {target!r}")
        self.model, self.target, self.grad = model, target, grad
        self.ids: list[int] = []  # prompt + answer tokens run so far
        self.answer_start = len(prompt_ids)
        self._leaves: list[Tensor] = []  # the input embeddings of each step: [1, n, hidden]
        self._per_token: list[Tensor] = []  # answer token t's score (with graph), t counted from answer_start
        self.logprobs: list[float] = []  # answer token t's log-probability given everything before it
        self._cache = DynamicCache(config=model.config)
        self._last: Tensor | None = None  # the logits that predict the next token (with graph)
        self._run(list(prompt_ids), keep_logits=1)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def answer_ids(self) -> list[int]:
        return self.ids[self.answer_start:]

    def generator(self) -> Generator:
        """Greedy generation that continues from the prompt's cache (its forward pass is this graph's), without
        graph: the answer's tokens are run with graph in steps of whole sentences instead."""
        cache = copy.copy(self._cache)
        cache.layers = [copy.copy(layer) for layer in self._cache.layers]
        for layer in cache.layers:
            for name in ("keys", "values"):
                if isinstance(getattr(layer, name, None), Tensor):
                    setattr(layer, name, getattr(layer, name).detach())
        return Generator(self.model, cache, self._last.detach())

    def extend(self, ids: Sequence[int]) -> None:
        """Run answer tokens ``ids`` forward after those already run."""
        if ids:
            self._run(list(ids), keep_logits=len(ids))

    def _run(self, ids: list[int], keep_logits: int) -> None:
        model = self.model
        device = model.device
        with model_lock(model), attnlrp(model), torch.set_grad_enabled(self.grad):
            embeds = model.get_input_embeddings()(torch.tensor([ids], device=device)).detach()
            if self.grad:
                embeds.requires_grad_(True)
            logits = model(inputs_embeds=embeds, past_key_values=self._cache, use_cache=True,
                           logits_to_keep=keep_logits).logits[0]
            if self.ids:  # answer tokens: each is predicted by the row before it
                rows = torch.cat([self._last[None], logits[:-1]])
                self._score(rows, torch.tensor(ids, device=device))
        self.ids += ids
        self._leaves.append(embeds)
        self._last = logits[-1]

    def _score(self, rows: Tensor, ids: Tensor) -> None:
        if self.target == "token":
            scores = rows.gather(-1, ids[:, None])[:, 0]
        elif self.target == "max":
            scores = rows.max(-1).values
        else:
            scores = torch.log_softmax(rows.to(torch.promote_types(rows.dtype, torch.float32)), -1).gather(
                -1, ids[:, None])[:, 0]
        with torch.no_grad():
            wide = rows.detach().to(torch.promote_types(rows.dtype, torch.float32))
            self.logprobs += torch.log_softmax(wide, -1).gather(-1, ids[:, None])[:, 0].tolist()
        self._per_token += list(scores.unbind())

    def relevance(self, spans: Sequence[tuple[int, int]], skip: Sequence[int] = (), backward: Backward = "loop"
                  ) -> tuple[Tensor, Tensor, Tensor]:
        """``(relevance[n, len(self)], targets[n], logprobs[n])`` of the sentences at absolute token ``spans``
        (the tokens in ``skip``, absolute, count in no target), through the graph kept so far (kept for later
        sentences). ``backward`` as in ``sentence_relevance``: a loop of backward passes or one batched."""
        if not self.grad:
            raise InvalidInputError("this graph was not kept (memory='low'); recompute the sentences instead")
        skipped = set(skip)
        targets = torch.stack([
            torch.stack([self._per_token[t - self.answer_start] for t in range(a, b) if t not in skipped]).sum()
            for a, b in spans
        ])
        logprobs = torch.tensor([sum(self.logprobs[t - self.answer_start] for t in range(a, b) if t not in skipped)
                                 for a, b in spans], dtype=torch.float64)
        used = self._leaves[: _leaves_before(self._leaves, max(b for _, b in spans))]
        eye = torch.eye(len(spans), dtype=targets.dtype, device=targets.device)
        if backward == "batched":
            grads = torch.autograd.grad(targets, used, eye, retain_graph=True, is_grads_batched=True,
                                        allow_unused=True)
        else:
            rows = [torch.autograd.grad(targets, used, eye[i], retain_graph=True, allow_unused=True)
                    for i in range(len(spans))]
            grads = [torch.stack([row[j] if row[j] is not None else torch.zeros_like(leaf)
                                  for row in rows]) for j, leaf in enumerate(used)]
        dtype = torch.promote_types(targets.dtype, torch.float32)
        parts = [(leaf.new_zeros((len(spans), *leaf.shape)) if g is None else g)[:, 0].to(dtype)
                 * leaf[0].detach().to(dtype) for g, leaf in zip(grads, used)]
        relevance = torch.cat([p.sum(-1) for p in parts], dim=1)
        relevance = torch.nn.functional.pad(relevance, (0, len(self) - relevance.shape[1]))
        return relevance.cpu(), targets.detach().to(dtype).cpu(), logprobs.to(dtype)


class Generator:
    """The local model's greedy answer, one token at a time from a cache of the prompt, without graph."""

    def __init__(self, model: PreTrainedModel, cache: DynamicCache, last: Tensor) -> None:
        self.model, self._cache, self._last = model, cache, last

    def next_token(self) -> int:
        """The greedy choice for the next token (as ``Attributor.generate`` makes it)."""
        return int(self._last.argmax())

    @torch.no_grad()
    def extend(self, token: int) -> None:
        with model_lock(self.model):  # the unpatched model gives the same forward pass
            ids = torch.tensor([[token]], device=self.model.device)
            self._last = self.model(ids, past_key_values=self._cache, use_cache=True, logits_to_keep=1).logits[0, -1]


def _leaves_before(leaves: Sequence[Tensor], end: int) -> int:
    """How many of the leading steps hold the tokens before ``end``."""
    seen = 0
    for i, leaf in enumerate(leaves):
        if seen >= end:
            return i
        seen += leaf.shape[1]
    return len(leaves)
