"""The engine: one forward pass over prompt + answer on the patched model, one backward per sentence.

Everything here works on token ids and token ranges; turning text into them (``rag_attrib.prompt.encode``) and
relevance into citations (``rag_attrib.aggregate``) happen around it. Beside it: the passes both of its paths share
(``passes``), the memory policy that chooses a path (``memory``) and the path that keeps one decoder layer's
graph at a time (``layer_by_layer``); their public names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import NamedTuple

import torch
from torch import Tensor
from transformers import PreTrainedModel

from ..errors import InvalidInputError, NonFiniteError
from .layer_by_layer import FEED_FORWARD_BLOCK, run_layer_by_layer
from .memory import (
    Memory,
    activation_bytes,
    check_memory,
    free_bytes,
    memory_plan,
    release_freed_memory,
    return_freed_memory_at_once,
)
from .passes import Backward, forward_targets, pull_gradients, sentence_targets, unit_gradients
from .patch import attnlrp, model_lock


@torch.no_grad()
def teacher_forced_logprobs(
    model: PreTrainedModel, input_ids: Tensor, answer_start: int, sentence_spans: Sequence[tuple[int, int]],
    skip: Sequence[int] = (),
) -> Tensor:
    """Each sentence's log-probability given everything before it, from one forward pass of ``model`` without
    graph (the unpatched model: the forward is the same either way). ``input_ids`` is the 1-D prompt + answer, the
    answer from ``answer_start``; ``sentence_spans`` and ``skip`` (tokens that count in no sentence) are absolute
    token indices."""
    input_ids = input_ids.to(model.device)
    positions = torch.arange(answer_start - 1, input_ids.shape[0] - 1, device=input_ids.device)
    with model_lock(model):
        logits = model(input_ids[None], logits_to_keep=positions, use_cache=False).logits[0]
    relative = [(a - answer_start, b - answer_start) for a, b in sentence_spans]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    skip = [t - answer_start for t in skip]
    logprobs = sentence_targets(logits, input_ids[answer_start:], relative, "logprob", skip).cpu()
    check_finite(model, {"log-probabilities": logprobs})
    return logprobs


class SentenceRelevance(NamedTuple):
    """What the engine returns: relevance ``[n, seq]``, the target values ``[n]`` and each sentence's
    log-probability given everything before it ``[n]`` (free: the same forward pass)."""

    relevance: Tensor
    targets: Tensor
    logprobs: Tensor


def sentence_relevance(
    model: PreTrainedModel,
    input_ids: Tensor,
    answer_start: int,
    sentence_spans: Sequence[tuple[int, int]],
    target: str = "token",
    backward: Backward = "loop",
    lrp: bool = True,
    memory: Memory = "auto",
    skip: Sequence[int] = (),
) -> SentenceRelevance:
    """AttnLRP relevance of every input token of ``model`` for each sentence: ``(relevance[n, seq], targets[n],
    logprobs[n])``.

    ``input_ids`` is the 1-D prompt + answer, the answer from ``answer_start``; ``target`` what each sentence's
    score explains (``sentence_targets``); ``sentence_spans`` are absolute token ranges inside the
    answer; the tokens in ``skip`` (absolute indices: the answer's citation markers) count in no sentence's
    target. Relevance is ``(grad * embedding).sum(-1)`` at the input embeddings, in float32 or wider.
    ``backward="loop"`` runs one backward per sentence reusing the graph; ``"batched"`` runs them as one
    vmapped backward (``is_grads_batched``). Both give the same values. ``lrp=False`` leaves the model
    unpatched: plain gradient x input, the baseline the rules are measured against.

    ``memory`` (see ``memory_plan``): ``"fast"`` keeps the whole graph for all backward passes; ``"low"``
    keeps only some decoder layers' inputs and recomputes one layer at a time (the same values, up to float
    rounding past ``FEED_FORWARD_BLOCK`` tokens, where the MLPs run in blocks; about one no-grad forward, one
    forward with graph and, on long prompts, one MLP forward more, paid once per answer); ``"auto"`` or a
    byte budget choose ``"fast"`` when its estimated activations fit.
    """
    if backward not in ("loop", "batched"):
        raise InvalidInputError(f"backward must be 'loop' or 'batched', got {backward!r}")
    plan = memory_plan(model, input_ids.shape[-1], memory)
    input_ids = input_ids.to(model.device)
    with model_lock(model), attnlrp(model) if lrp else nullcontext(), torch.enable_grad():
        if plan == "fast":
            embeds, targets, logprobs = forward_targets(model, input_ids, answer_start, sentence_spans, target, skip)
            grads = pull_gradients(targets, embeds, unit_gradients(targets), backward)
        else:
            embeds, targets, logprobs, grads = run_layer_by_layer(model, input_ids, answer_start, sentence_spans,
                                                                  target, backward, skip)
        # At least float32 whatever the model runs in (bf16 sums lose the small contributions).
        dtype = torch.promote_types(embeds.dtype, torch.float32)
        relevance = (grads[:, 0].to(dtype) * embeds[0].detach().to(dtype)).sum(-1)
    out = SentenceRelevance(relevance.cpu(), targets.detach().to(dtype).cpu(), logprobs.to(dtype).cpu())
    check_finite(model, {"logits": out.targets, "log-probabilities": out.logprobs, "relevance": out.relevance})
    return out


def check_finite(model: PreTrainedModel, values: dict[str, Tensor]) -> None:
    """Refuse NaN or infinite ``values`` (model outputs by name; the error names ``model``'s dtype): shares
    computed from them look confident (0.0, ``ungrounded``) and mean nothing."""
    bad = [name for name, value in values.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise NonFiniteError(
            f"the model produced non-finite {', '.join(bad)} (NaN or infinity), so no citation can be computed. "
            f"The likely cause is a numeric overflow of the model's {model.dtype} (float16 and bfloat16 overflow "
            "easily) or broken weights; load the model in float32 (load_model(..., dtype=torch.float32), or "
            "model.float()) and check that it generates sensible text"
        )


__all__ = [
    "FEED_FORWARD_BLOCK", "Backward", "Memory", "SentenceRelevance", "activation_bytes", "check_finite", "check_memory",
    "forward_targets", "free_bytes", "memory_plan", "release_freed_memory", "return_freed_memory_at_once",
    "sentence_relevance", "sentence_targets", "teacher_forced_logprobs",
]
