"""The passes both paths of the engine share: the forward pass that gives one target per sentence, with its graph,
and the backward pull of n gradients at once through a graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor
from transformers import PreTrainedModel

from ..errors import InvalidInputError
from ..types import TARGETS

Backward = Literal["loop", "batched"]


def sentence_targets(
    logits: Tensor, answer_ids: Tensor, spans: Sequence[tuple[int, int]], target: str, skip: Sequence[int] = ()
) -> Tensor:
    """One scalar per sentence: the sum over its tokens of the chosen per-token score.

    ``logits[i]`` predicts ``answer_ids[i]``; ``spans`` index the answer tokens, and the tokens in ``skip``
    (answer indices: citation markers) count in no sentence. ``target`` ``"token"`` is the logit of the token
    actually in the answer, ``"max"`` the largest logit (Sentence-LRP; equal under greedy decoding), ``"logprob"``
    the token's log-probability.
    """
    if target == "token":
        per_token = logits.gather(-1, answer_ids[:, None])[:, 0]
    elif target == "max":
        per_token = logits.max(-1).values
    elif target == "logprob":
        per_token = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1).gather(
            -1, answer_ids[:, None]
        )[:, 0]
    else:
        raise InvalidInputError(f"target must be one of {TARGETS}, got {target!r}")
    if skip:
        if not all(0 <= t < len(answer_ids) for t in skip):
            raise InvalidInputError(f"skip holds token indices outside the answer's {len(answer_ids)} tokens: "
                                    f"{sorted(skip)}; pass absolute indices to the engine's entry points")
        kept = torch.ones_like(per_token, dtype=torch.bool)
        kept[list(skip)] = False
        per_token = per_token.where(kept, torch.zeros((), dtype=per_token.dtype, device=per_token.device))
    return torch.stack([per_token[a:b].sum() for a, b in spans])


def forward_targets(
    model: PreTrainedModel, input_ids: Tensor, answer_start: int, sentence_spans: Sequence[tuple[int, int]],
    target: str, skip: Sequence[int] = (),
) -> tuple[Tensor, Tensor, Tensor]:
    """The forward pass of an attribution on ``model``: ``(input embeddings, one target per sentence, each sentence's
    log-probability)``, the first two with the graph between them.

    ``input_ids`` is the 1-D prompt + answer, the answer from ``answer_start``; ``sentence_spans`` and ``skip``
    (tokens that count in no sentence) are absolute token indices; ``target`` as in ``sentence_targets``.
    Logits are computed only at the positions that predict answer tokens (the LM head over the whole prompt
    would cost as much as several layers). Call it with gradients enabled, inside ``attnlrp`` for relevance.
    """
    embeds = model.get_input_embeddings()(input_ids[None]).detach().requires_grad_(True)
    positions = torch.arange(answer_start - 1, input_ids.shape[0] - 1, device=input_ids.device)
    logits = model(inputs_embeds=embeds, logits_to_keep=positions, use_cache=False).logits[0]
    relative = [(a - answer_start, b - answer_start) for a, b in sentence_spans]
    skip = [t - answer_start for t in skip]
    targets = sentence_targets(logits, input_ids[answer_start:], relative, target, skip)
    with torch.no_grad():  # a by-product for the support model: each sentence's log-probability given the prompt
        logprobs = sentence_targets(logits.detach(), input_ids[answer_start:], relative, "logprob", skip)
    return embeds, targets, logprobs


def unit_gradients(targets: Tensor) -> Tensor:
    """The gradients that start each sentence's backward pass at ``targets``: row i is 1 at target i, else 0."""
    return torch.eye(len(targets), dtype=targets.dtype, device=targets.device)


def pull_gradients(outputs, inputs: Tensor, grads, backward: Backward, keep_graph: bool = False,
                   into: Tensor | None = None) -> Tensor:
    """The gradient at ``inputs`` of each of the n vectors ``grads[n, *output.shape]`` given at ``outputs``:
    ``[n, *inputs.shape]``. ``outputs`` and ``grads`` may be tuples (their contributions add up). ``backward``
    ``"loop"`` runs one backward per vector, ``"batched"`` one vmapped backward for all. The graph between them is
    freed afterwards unless ``keep_graph``. The loop backward writes the result ``into`` a given tensor, which may
    be one of ``grads`` (each sentence's row is read before it is overwritten)."""
    if backward == "batched":
        return torch.autograd.grad(outputs, inputs, grads, retain_graph=keep_graph, is_grads_batched=True)[0]
    many = isinstance(grads, tuple)
    n = len(grads[0]) if many else len(grads)
    pulled = inputs.new_empty((n, *inputs.shape)) if into is None else into  # filled in place: no n copies to stack
    for i in range(n):
        given = tuple(g[i] for g in grads) if many else grads[i]
        pulled[i] = torch.autograd.grad(outputs, inputs, given, retain_graph=keep_graph or i < n - 1)[0]
    return pulled
