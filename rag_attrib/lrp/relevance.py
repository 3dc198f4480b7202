"""The engine: one forward pass over prompt + answer on the patched model, one backward per sentence.

Everything here works on token ids and token ranges; turning text into them (``rag_attrib.prompt.encode``) and
relevance into citations (``rag_attrib.aggregate``) happen around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Literal

import torch
from torch import Tensor
from transformers import PreTrainedModel

from ..errors import InvalidInputError
from ..types import TARGETS
from .patch import attnlrp, model_lock

Backward = Literal["loop", "batched"]


def sentence_targets(logits: Tensor, answer_ids: Tensor, spans: Sequence[tuple[int, int]], target: str) -> Tensor:
    """One scalar per sentence: the sum over its tokens of the chosen per-token score.

    ``logits[i]`` predicts ``answer_ids[i]``; ``spans`` index the answer tokens. ``"token"`` is the logit of
    the token actually in the answer, ``"max"`` the largest logit (Sentence-LRP; equal under greedy
    decoding), ``"logprob"`` the token's log-probability.
    """
    if target == "token":
        per_token = logits.gather(-1, answer_ids[:, None])[:, 0]
    elif target == "max":
        per_token = logits.max(-1).values
    elif target == "logprob":
        per_token = torch.log_softmax(logits.float(), -1).gather(-1, answer_ids[:, None])[:, 0]
    else:
        raise InvalidInputError(f"target must be one of {TARGETS}, got {target!r}")
    return torch.stack([per_token[a:b].sum() for a, b in spans])


def forward_targets(
    model: PreTrainedModel, input_ids: Tensor, answer_start: int, sentence_spans: Sequence[tuple[int, int]],
    target: str,
) -> tuple[Tensor, Tensor]:
    """The forward pass of an attribution: ``(input embeddings, one target per sentence)``, with the graph.

    Logits are computed only at the positions that predict answer tokens (the LM head over the whole prompt
    would cost as much as several layers). Call it with gradients enabled, inside ``attnlrp`` for relevance.
    """
    embeds = model.get_input_embeddings()(input_ids[None]).detach().requires_grad_(True)
    positions = torch.arange(answer_start - 1, input_ids.shape[0] - 1, device=input_ids.device)
    logits = model(inputs_embeds=embeds, logits_to_keep=positions, use_cache=False).logits[0]
    relative = [(a - answer_start, b - answer_start) for a, b in sentence_spans]
    return embeds, sentence_targets(logits, input_ids[answer_start:], relative, target)


def sentence_relevance(
    model: PreTrainedModel,
    input_ids: Tensor,
    answer_start: int,
    sentence_spans: Sequence[tuple[int, int]],
    target: str = "token",
    backward: Backward = "loop",
    lrp: bool = True,
) -> tuple[Tensor, Tensor]:
    """AttnLRP relevance of every input token for each sentence: ``(relevance[n, seq], target_values[n])``.

    ``input_ids`` is the 1-D prompt + answer; ``sentence_spans`` are absolute token ranges inside the
    answer. Relevance is ``(grad * embedding).sum(-1)`` at the input embeddings, in float32 or wider.
    ``backward="loop"`` runs one backward per sentence reusing the graph; ``"batched"`` runs them as one
    vmapped backward (``is_grads_batched``). Both give the same values. ``lrp=False`` leaves the model
    unpatched: plain gradient x input, the baseline the rules are measured against.
    """
    if backward not in ("loop", "batched"):
        raise InvalidInputError(f"backward must be 'loop' or 'batched', got {backward!r}")
    input_ids = input_ids.to(model.device)
    with model_lock(model), attnlrp(model) if lrp else nullcontext(), torch.enable_grad():
        embeds, targets = forward_targets(model, input_ids, answer_start, sentence_spans, target)
        if backward == "batched":
            eye = torch.eye(len(targets), dtype=targets.dtype, device=targets.device)
            (grads,) = torch.autograd.grad(targets, embeds, grad_outputs=eye, is_grads_batched=True)
            grads = grads[:, 0]
        else:
            grads = torch.cat(
                [
                    torch.autograd.grad(t, embeds, retain_graph=i < len(targets) - 1)[0]
                    for i, t in enumerate(targets)
                ]
            )
        # At least float32 whatever the model runs in (bf16 sums lose the small contributions).
        dtype = torch.promote_types(embeds.dtype, torch.float32)
        relevance = (grads.to(dtype) * embeds[0].detach().to(dtype)).sum(-1)
    return relevance.cpu(), targets.detach().to(dtype).cpu()
