"""The engine's ``memory="low"`` path: the same relevance as the whole graph, one decoder layer's graph at a time
(``rag_attrib.lrp.memory`` decides when)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from ..errors import UnsupportedModelError
from .memory import release_freed_memory
from .passes import Backward, forward_targets, pull_gradients, unit_gradients
from .patch import set_instance_forward


def run_layer_by_layer(
    model: PreTrainedModel, input_ids: Tensor, answer_start: int, sentence_spans: Sequence[tuple[int, int]],
    target: str, backward: Backward, skip: Sequence[int] = (),
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``memory="low"``: ``(input embeddings, targets, log-probabilities, the n sentence gradients at the
    embeddings)``, the same as the whole graph gives, one decoder layer's graph at a time. The arguments are
    ``forward_targets``'; ``backward`` as in ``pull_gradients``. Call it inside ``attnlrp``, with gradients on.

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
        grads = pull_gradients(targets, calls[-1].output, unit_gradients(targets), backward)
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
    return embeds, targets, logprobs, pull_gradients(calls[0].hidden, embeds, grads, backward)


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
        return pull_gradients(output, hidden, grads, backward, into=grads)
    if len(split) != 1:
        raise UnsupportedModelError(
            f"memory='low' expects each decoder layer to call its MLP once; {type(call.layer).__name__} called it "
            f"{len(split)} times: use memory='fast'"
        )
    [(mlp_input, mlp_output, mlp_forward)] = split
    split.clear()
    at_mlp = pull_gradients(output, mlp_output, grads, backward, keep_graph=True)
    del mlp_output  # the graph keeps it where the layer needs it again (e.g. Gemma's norm after the MLP)
    if at_mlp.untyped_storage().data_ptr() == grads.untyped_storage().data_ptr():
        at_mlp = at_mlp.clone()  # the batched backward may hand ``grads`` back through a residual sum
    for block in _token_blocks(mlp_input.shape[-2]):
        piece = mlp_input[..., block, :].detach().requires_grad_(True)
        at_mlp[..., block, :] = pull_gradients(mlp_forward(piece), piece, at_mlp[..., block, :], backward)
    return pull_gradients((output, mlp_input), hidden, (grads, at_mlp), backward, into=at_mlp)


FEED_FORWARD_BLOCK = 1024
"""Tokens per block in which ``memory="low"`` runs the decoder layers' MLPs on prompts longer than this.

The MLP is position-wise (each token's output depends on that token alone), so blocks give its values; its
intermediates and graph are several times the hidden width per token, the largest part of a layer's."""


@contextmanager
def _feed_forward_in_blocks(layers: list[nn.Module]) -> Iterator[list]:
    """While active, the layers' MLPs run in blocks of ``FEED_FORWARD_BLOCK`` tokens on longer inputs.

    Without graph they just run block by block. With graph (the layer step of ``run_layer_by_layer``) they
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
    undo = [set_instance_forward(module, wrap(module.forward)) for module in modules]
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
