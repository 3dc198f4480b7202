"""The engine: one forward pass over prompt + answer on the patched model, one backward per sentence.

Everything here works on token ids and token ranges; turning text into them (``rag_attrib.prompt.encode``) and
relevance into citations (``rag_attrib.aggregate``) happen around it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from ..errors import InvalidInputError, NonFiniteError, UnsupportedModelError
from ..types import MEMORY_CHOICES, TARGETS
from .patch import _set_instance_forward, attnlrp, model_lock

Backward = Literal["loop", "batched"]


def sentence_targets(
    logits: Tensor, answer_ids: Tensor, spans: Sequence[tuple[int, int]], target: str, skip: Sequence[int] = ()
) -> Tensor:
    """One scalar per sentence: the sum over its tokens of the chosen per-token score.

    ``logits[i]`` predicts ``answer_ids[i]``; ``spans`` index the answer tokens, and the tokens in ``skip``
    (answer indices: citation markers) count in no sentence. ``"token"`` is the logit of the token actually in
    the answer, ``"max"`` the largest logit (Sentence-LRP; equal under greedy decoding), ``"logprob"`` the
    token's log-probability.
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
    """The forward pass of an attribution: ``(input embeddings, one target per sentence)``, with the graph.

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


@torch.no_grad()
def teacher_forced_logprobs(
    model: PreTrainedModel, input_ids: Tensor, answer_start: int, sentence_spans: Sequence[tuple[int, int]],
    skip: Sequence[int] = (),
) -> Tensor:
    """Each sentence's log-probability given everything before it, from one forward pass without graph
    (the unpatched model: the forward is the same either way). ``sentence_spans`` and ``skip`` (tokens that
    count in no sentence) are absolute token indices."""
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
    """AttnLRP relevance of every input token for each sentence: ``(relevance[n, seq], targets[n], logprobs[n])``.

    ``input_ids`` is the 1-D prompt + answer; ``sentence_spans`` are absolute token ranges inside the
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
            grads = _pull(targets, embeds, _eye(targets), backward)
        else:
            embeds, targets, logprobs, grads = _layer_by_layer(model, input_ids, answer_start, sentence_spans, target,
                                                               backward, skip)
        # At least float32 whatever the model runs in (bf16 sums lose the small contributions).
        dtype = torch.promote_types(embeds.dtype, torch.float32)
        relevance = (grads[:, 0].to(dtype) * embeds[0].detach().to(dtype)).sum(-1)
    out = SentenceRelevance(relevance.cpu(), targets.detach().to(dtype).cpu(), logprobs.to(dtype).cpu())
    check_finite(model, {"logits": out.targets, "log-probabilities": out.logprobs, "relevance": out.relevance})
    return out


def check_finite(model: PreTrainedModel, values: dict[str, Tensor]) -> None:
    """Refuse NaN or infinite model outputs: shares computed from them look confident (0.0, ``ungrounded``)
    and mean nothing."""
    bad = [name for name, value in values.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise NonFiniteError(
            f"the model produced non-finite {', '.join(bad)} (NaN or infinity), so no citation can be computed. "
            f"The likely cause is a numeric overflow of the model's {model.dtype} (float16 and bfloat16 overflow "
            "easily) or broken weights; load the model in float32 (load_model(..., dtype=torch.float32), or "
            "model.float()) and check that it generates sensible text"
        )


def _eye(targets: Tensor) -> Tensor:
    return torch.eye(len(targets), dtype=targets.dtype, device=targets.device)


def _pull(outputs, inputs: Tensor, grads, backward: Backward, keep_graph: bool = False, into: Tensor | None = None
          ) -> Tensor:
    """The gradient at ``inputs`` of each of the n vectors ``grads[n, *output.shape]`` given at ``outputs``:
    ``[n, *inputs.shape]``. ``outputs`` and ``grads`` may be tuples (their contributions add up). The graph
    between them is freed afterwards unless ``keep_graph``. The loop backward writes the result ``into`` a
    given tensor, which may be one of ``grads`` (each sentence's row is read before it is overwritten)."""
    if backward == "batched":
        return torch.autograd.grad(outputs, inputs, grads, retain_graph=keep_graph, is_grads_batched=True)[0]
    many = isinstance(grads, tuple)
    n = len(grads[0]) if many else len(grads)
    pulled = inputs.new_empty((n, *inputs.shape)) if into is None else into  # filled in place: no n copies to stack
    for i in range(n):
        given = tuple(g[i] for g in grads) if many else grads[i]
        pulled[i] = torch.autograd.grad(outputs, inputs, given, retain_graph=keep_graph or i < n - 1)[0]
    return pulled


# ------------------------------------------------------------------------------------------ memory policy

Memory = Literal["auto", "fast", "low"] | int


def check_memory(memory: object) -> None:
    """Raise ``InvalidInputError`` unless ``memory`` is ``"auto"``, ``"fast"``, ``"low"`` or a positive int."""
    if isinstance(memory, str) and memory in MEMORY_CHOICES:
        return
    if isinstance(memory, int) and not isinstance(memory, bool) and memory > 0:
        return
    raise InvalidInputError(
        f"memory must be 'auto', 'fast', 'low' or a budget in bytes (a positive int, e.g. 4 * 2**30), got {memory!r}"
    )


def memory_plan(model: PreTrainedModel, seq_len: int, memory: Memory = "auto") -> Literal["fast", "low"]:
    """``"fast"`` or ``"low"``: ``"fast"`` when the whole graph's estimated activations
    (``activation_bytes``) fit the budget: ``memory`` bytes, or for ``"auto"`` half the free memory of the
    model's device (the backward passes need room beside the graph)."""
    check_memory(memory)
    if memory in ("fast", "low"):
        return memory
    budget = free_bytes(model.device) // 2 if memory == "auto" else memory
    return "fast" if activation_bytes(model.config, seq_len, model.dtype.itemsize) <= budget else "low"


def activation_bytes(config, seq_len: int, dtype_bytes: int = 4) -> int:
    """Estimated bytes the forward pass with graph keeps for the backward passes (``memory="fast"``).

    Counted with ``torch.autograd.graph.saved_tensors_hooks`` on SmolLM2-135M under the rules (parameters
    need no gradient, so the linear maps save no input): per token and decoder layer, the MLP keeps three
    tensors of its intermediate width (the identity rule's ratio, the uniform rule's two halved factors),
    attention keeps q, k, v and its output (SDPA) and one log-sum-exp per head, and two more of the hidden
    width: ``3 * intermediate + 2 * hidden + 2 * (q + kv) + heads`` numbers (7,305 for SmolLM2: 29.2 kB in
    float32, 0.88 MB per token over its 30 layers). Resident memory grows faster than this count (the
    backward's temporaries, the allocator's fragmentation): 1.3 MB per token measured between 1k and 2k
    tokens (benchmarks/memory.md), which ``memory_plan``'s half of the free memory leaves room for.
    ``tests/test_memory.py`` checks the count on a tiny Llama.
    """
    hidden = config.hidden_size
    intermediate = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv = (getattr(config, "num_key_value_heads", None) or heads) * head_dim
    per_token_layer = 3 * intermediate + 2 * hidden + 2 * (heads * head_dim + kv) + heads
    return per_token_layer * dtype_bytes * seq_len * config.num_hidden_layers


def free_bytes(device: torch.device) -> int:
    """Free memory of ``device``: ``torch.cuda.mem_get_info`` on a GPU, else the available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024


# ------------------------------------------------------------------------------------ layer by layer


def _layer_by_layer(model, input_ids, answer_start, sentence_spans, target, backward, skip=()):
    """``memory="low"``: the same relevance as the whole graph, one decoder layer's graph at a time.

    1. One forward in which the decoder layers run without graph; the input of each segment's first layer
       is kept (``_segments``), and the last layer's output becomes a leaf, so the model's own head
       (final norm, LM head, soft-capping, scaling) gives the sentence targets with a small graph, and the
       first layer's input keeps its graph to the embeddings (scaling, position embeddings).
    2. The n sentence gradients at the last layer's output; then, from the top, each segment of layers
       is recomputed without graph from its kept input, and each layer once more with graph (inside
       ``attnlrp``, so the rules apply), through which all n gradients are pulled before its graph is freed
       (``_layer_backward``: on long prompts the MLP's graph exists for one block of tokens at a time).
    3. The first layer's input gradients are pulled to the embeddings.
    """
    layers = _decoder_layers(model)
    segments = _segments(len(layers))
    with _without_checkpointing(layers), _feed_forward_in_blocks(layers) as split:
        with _recorded(layers, {start for start, _ in segments}) as calls:
            embeds, targets, logprobs = forward_targets(model, input_ids, answer_start, sentence_spans, target, skip)
        grads = _pull(targets, calls[-1].output, _eye(targets), backward)
        calls[-1].output = None
        for start, end in reversed(segments):
            segment = calls[start:end]
            inputs = [segment[0].hidden.detach()]
            if start > 0:  # the first layer's input is pulled to the embeddings at the end
                segment[0].hidden = None
            with torch.no_grad():
                for call in segment[:-1]:
                    inputs.append(call.layer(inputs[-1], *call.args, **call.kwargs))
            for call in reversed(segment):
                hidden = inputs.pop().requires_grad_(True)  # popped: freed as soon as its layer is done
                grads = _layer_backward(call, hidden, grads, backward, split)
                release_freed_memory(embeds.device)
    return embeds, targets, logprobs, _pull(calls[0].hidden, embeds, grads, backward)


def _segments(n_layers: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the segments whose first layer's input ``memory="low"`` keeps, from the bottom.

    While a segment's layers are pulled through, the inputs kept below it and the ones recomputed inside it
    are alive: with sizes shrinking upwards by one (8, 7, 6, 5, 4 for 30 layers) that count is the same c
    for every segment, the smallest with c (c + 1) / 2 >= layers (8 for 30 layers, where equal segments of
    sqrt(30) layers need 10), and each layer is still recomputed at most once.
    """
    size = 1
    while size * (size + 1) // 2 < n_layers:
        size += 1
    segments, start = [], 0
    while start < n_layers:
        segments.append((start, min(start + size, n_layers)))
        start, size = start + size, size - 1
    return segments


def _layer_backward(call: _Call, hidden: Tensor, grads: Tensor, backward: Backward, split: list) -> Tensor:
    """The n gradients at a decoder layer's input from those at its output, through its graph built once.

    Where the layer's MLP ran split (``_feed_forward_in_blocks``: long prompts), the layer's graph stops at
    the MLP: the gradients are pulled to the MLP's output, through the MLP rebuilt block by block, and then
    from the layer's output and the MLP's input together to the layer's input. Each node receives the same
    gradients as in the whole graph; only the MLP's graph (three to four times the hidden width per token)
    never exists for the whole prompt at once.
    """
    split.clear()
    output = call.layer(hidden, *call.args, **call.kwargs)
    if not split:
        return _pull(output, hidden, grads, backward, into=grads)
    if len(split) != 1:
        raise UnsupportedModelError(
            f"memory='low' expects each decoder layer to call its MLP once; {type(call.layer).__name__} called it "
            f"{len(split)} times: use memory='fast'"
        )
    [(mlp_input, mlp_output, mlp_forward)] = split
    split.clear()
    at_mlp = _pull(output, mlp_output, grads, backward, keep_graph=True)
    del mlp_output  # the graph keeps it where the layer needs it again (e.g. Gemma's norm after the MLP)
    if at_mlp.untyped_storage().data_ptr() == grads.untyped_storage().data_ptr():
        at_mlp = at_mlp.clone()  # the batched backward may hand ``grads`` back through a residual sum
    for block in _token_blocks(mlp_input.shape[-2]):
        piece = mlp_input[..., block, :].detach().requires_grad_(True)
        at_mlp[..., block, :] = _pull(mlp_forward(piece), piece, at_mlp[..., block, :], backward)
    return _pull((output, mlp_input), hidden, (grads, at_mlp), backward, into=at_mlp)


FEED_FORWARD_BLOCK = 1024
"""Tokens per block in which ``memory="low"`` runs the decoder layers' MLPs on prompts longer than this.

The MLP is position-wise (each token's output depends on that token alone), so blocks give its values; its
intermediates and graph are several times the hidden width per token, the largest part of a layer's."""


@contextmanager
def _feed_forward_in_blocks(layers: list[nn.Module]) -> Iterator[list]:
    """While active, the layers' MLPs run in blocks of ``FEED_FORWARD_BLOCK`` tokens on longer inputs.

    Without graph they just run block by block. With graph (the layer step of ``_layer_by_layer``) they
    run without it and return their output as a leaf, recording ``(input, output, forward)`` in the
    yielded list, so that ``_layer_backward`` can rebuild the MLP's graph one block at a time. A layer that
    changes the MLP's output in place (none of the registered families does) would fail on that leaf.
    """
    split: list = []

    def in_blocks(forward):
        def run(self, x, *args, **kwargs):
            if args or kwargs or x.shape[-2] <= FEED_FORWARD_BLOCK:
                return forward(x, *args, **kwargs)
            if not (torch.is_grad_enabled() and x.requires_grad):
                with torch.no_grad():
                    return _blockwise(forward, x)
            with torch.no_grad():
                y = _blockwise(forward, x)
            if not isinstance(y, Tensor) or y.shape != x.shape:  # not a hidden -> hidden map: keep its graph whole
                return forward(x)
            split.append((x, y.requires_grad_(True), forward))
            return y

        return run

    with _wrapped_forwards([mlp for mlp in map(_feed_forward, layers) if mlp is not None], in_blocks):
        yield split


@contextmanager
def _wrapped_forwards(modules: list[nn.Module], wrap) -> Iterator[None]:
    """While active, each module runs ``wrap(its forward)`` (set on the instance); restored afterwards."""
    undo = [_set_instance_forward(module, wrap(module.forward)) for module in modules]
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


def _feed_forward(layer: nn.Module) -> nn.Module | None:
    """The layer's MLP (the one child whose class name ends in ``MLP``), or None (e.g. a mixture of experts)."""
    mlps = [child for child in layer.children() if type(child).__name__.endswith("MLP")]
    return mlps[0] if len(mlps) == 1 else None


def _token_blocks(length: int) -> list[slice]:
    """The token positions ``0..length`` in blocks of ``FEED_FORWARD_BLOCK`` (the last one may be shorter)."""
    return [slice(a, a + FEED_FORWARD_BLOCK) for a in range(0, length, FEED_FORWARD_BLOCK)]


def _blockwise(forward, x: Tensor) -> Tensor:
    """``forward(x)`` for a position-wise ``forward``, computed one block of tokens at a time (whole where it
    does not return a tensor)."""
    first, *rest = _token_blocks(x.shape[-2])
    y = forward(x[..., first, :])
    if not isinstance(y, Tensor):
        return forward(x)
    out = y.new_empty((*x.shape[:-1], y.shape[-1]))
    out[..., first, :] = y
    for block in rest:
        out[..., block, :] = forward(x[..., block, :])
    return out


def release_freed_memory(device: torch.device) -> None:
    """Give the pages of freed blocks back to the system (glibc's ``malloc_trim``), on CPU only.

    Each layer's graph and gradients are freed before the next layer allocates blocks of other sizes; glibc
    keeps freed blocks in its heap, where they fragment. Trimming once per layer costs a few ms and lowered the
    8k-token peak from 2.23 to 2.17 GiB (benchmarks/memory.md); most fragmentation happens inside a layer's
    backward, which only ``MALLOC_MMAP_THRESHOLD_`` (the user's choice) reaches.
    """
    if device.type == "cpu" and _libc() is not None:
        _libc().malloc_trim(0)


def return_freed_memory_at_once(threshold: int = 64 * 2**10) -> bool:
    """Make glibc map every block of ``threshold`` bytes or more on its own and unmap it when freed
    (``mallopt(M_MMAP_THRESHOLD)``). Returns False where that is unknown. An application's choice: the library
    never calls it in a caller's process, only in processes of its own (the CLI's and the Ray actors' under
    ``memory="low"``).

    By default glibc raises this threshold as large blocks are freed and then keeps freed blocks in its heap,
    where they fragment: ``memory="low"`` at 8k tokens peaked at 1.77 GiB with the default and 1.39 GiB with
    this (benchmarks/memory.md). It holds for the whole process and cannot be undone, hence the application's
    choice (``rag-attrib ... --memory low`` makes it; ``MALLOC_MMAP_THRESHOLD_=65536`` does the same from the
    environment).
    """
    libc = _libc()
    return libc is not None and hasattr(libc, "mallopt") and libc.mallopt(-3, threshold) == 1  # -3: M_MMAP_THRESHOLD


@functools.cache
def _libc():
    """glibc, or None where the C library has no ``malloc_trim`` (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@dataclass
class _Call:
    layer: nn.Module
    hidden: Tensor | None  # the layer's input, kept for the first layer of each segment
    args: tuple
    kwargs: dict
    output: Tensor | None = None


def _decoder_layers(model: nn.Module) -> list[nn.Module]:
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    if not layers:
        raise UnsupportedModelError(
            f"memory='low' recomputes the decoder layers one by one, but {type(model).__name__} has no "
            "transformers GradientCheckpointingLayer; use memory='fast'"
        )
    return layers


@contextmanager
def _recorded(layers: list[nn.Module], keep: set[int]) -> Iterator[list[_Call]]:
    """While active, each decoder layer runs without graph and records its call; the layers must form a
    chain (each one's input is the previous one's output), which the recomputation relies on."""
    calls: list[_Call] = []

    def recording(forward):
        def run(self, hidden, *args, **kwargs):
            if calls and hidden is not calls[-1].output or len(calls) == len(layers):
                raise UnsupportedModelError(
                    f"memory='low' needs the decoder layers of {type(self).__name__} to run once each, each on "
                    "the previous one's output; this model does not: use memory='fast'"
                )
            if calls:
                calls[-1].output = None  # only the last layer's output is kept
            kept = hidden if len(calls) in keep else None
            calls.append(_Call(self, kept, args, kwargs))
            with torch.no_grad():
                output = forward(hidden, *args, **kwargs)
            if not isinstance(output, Tensor):
                raise UnsupportedModelError("memory='low' needs decoder layers that return a tensor; use memory='fast'")
            calls[-1].output = output.detach().requires_grad_(True)  # the head's graph starts here
            return calls[-1].output

        return run

    with _wrapped_forwards(layers, recording):
        yield calls
    if len(calls) != len(layers):
        raise UnsupportedModelError(
            f"memory='low' expected {len(layers)} decoder layer calls, saw {len(calls)}; use memory='fast'"
        )


@contextmanager
def _without_checkpointing(layers: list[nn.Module]) -> Iterator[None]:
    """Gradient checkpointing would recompute a layer for each sentence; here each is recomputed once."""
    modes = [layer.training for layer in layers]
    for layer in layers:
        layer.training = False
    try:
        yield
    finally:
        for layer, mode in zip(layers, modes):
            layer.training = mode
