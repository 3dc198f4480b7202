"""The AttnLRP rules in gradient x input form, as small autograd Functions.

A backward pass in which every operation's gradient is replaced by its LRP rule computes relevance:
the relevance of any tensor is then ``grad * activation``. Operations that need no rule (linear maps,
residual additions, rotary embeddings, softmax) keep their plain gradient. Each Function keeps the
forward value bit-identical to the original operation and only changes the backward.

All Functions use the ``setup_context`` form with ``generate_vmap_rule`` so that batched backward
passes (``torch.autograd.grad(..., is_grads_batched=True)``) work through them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class ScaleGradient(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by a constant.

    Used on attention's queries, keys and values: the two matmuls of attention are products of two
    activations, and the uniform rule gives each factor half of the relevance. Queries and keys sit behind
    both products (1/2 * 1/2), values behind one (1/2).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, factor: float) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.factor = inputs[1]

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.factor, None


class IdentityRule(torch.autograd.Function):
    """``y = f(x)`` for an element-wise non-linearity, with backward ``grad * f(x) / x``.

    Relevance ``x * grad_x`` then equals ``y * grad_y``: the non-linearity passes relevance through
    unchanged instead of rescaling it by its local slope. The ratio ``f(x) / x`` (0 where ``x == 0``) is
    computed once in the forward and is the only tensor saved: each backward is one multiply.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        return fn(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x = inputs[0]
        ctx.save_for_backward((output / x).masked_fill_(x == 0, 0))

    @staticmethod
    def backward(ctx, grad: Tensor):
        (ratio,) = ctx.saved_tensors
        return grad * ratio, None


class UniformProduct(torch.autograd.Function):
    """``a * b`` of two activations, with the gradient of each factor halved (the uniform rule).

    Plain gradient x input would give each factor the full relevance of the product, doubling it. The
    halved factors ``b / 2`` and ``a / 2`` are saved by the forward (halving is exact except for subnormals),
    so each backward is one multiply per factor.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return a * b

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        a, b = inputs
        ctx.factors = (a.shape, a.dtype), (b.shape, b.dtype)
        ctx.save_for_backward(b * 0.5, a * 0.5)

    @staticmethod
    def backward(ctx, grad: Tensor):
        half_b, half_a = ctx.saved_tensors
        (shape_a, dtype_a), (shape_b, dtype_b) = ctx.factors
        return (grad * half_b).sum_to_size(shape_a).to(dtype_a), (grad * half_a).sum_to_size(shape_b).to(dtype_b)


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    return ScaleGradient.apply(x, factor)


def _builds_graph(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def identity_rule(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    # Without a graph (a no-grad forward) the rule's value is just fn(x): skip the ratio.
    return IdentityRule.apply(x, fn) if _builds_graph(x) else fn(x)


def uniform_product(a: Tensor, b: Tensor) -> Tensor:
    return UniformProduct.apply(a, b) if _builds_graph(a, b) else a * b


def normalise(x: Tensor, eps: float) -> Tensor:
    """``x / rms(x)`` in float32, with the normaliser held constant in the backward (the identity rule).

    The same operations, in the same order and dtype, as transformers' RMSNorms, so that every family's
    patched norm is bit-identical to its original.
    """
    h = x.to(torch.float32)
    return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps).detach()


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """Llama's RMSNorm under the identity rule: normalise in float32, cast back, then scale."""
    return weight * normalise(x, eps).to(x.dtype)


def layer_norm(x: Tensor, norm: torch.nn.LayerNorm) -> Tensor:
    """LayerNorm under the identity rule: the centring stays linear, the standard deviation is constant.

    The value is the fused kernel's own (bit-identical); only the gradient comes from the rule.
    """
    exact = torch.nn.functional.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    centred = x - x.mean(-1, keepdim=True)
    rule = centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + norm.eps).detach()
    if norm.weight is not None:
        rule = rule * norm.weight
    return exact.detach() + (rule - rule.detach())
