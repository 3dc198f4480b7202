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
    unchanged instead of rescaling it by its local slope.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        return fn(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0], output)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, y = ctx.saved_tensors
        ratio = torch.where(x == 0, torch.zeros_like(y), y / torch.where(x == 0, torch.ones_like(x), x))
        return grad * ratio, None


class UniformProduct(torch.autograd.Function):
    """``a * b`` of two activations, with the gradient of each factor halved (the uniform rule).

    Plain gradient x input would give each factor the full relevance of the product, doubling it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return a * b

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, b = ctx.saved_tensors
        grad_a = (grad * b * 0.5).sum_to_size(a.shape)
        grad_b = (grad * a * 0.5).sum_to_size(b.shape)
        return grad_a, grad_b


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    return ScaleGradient.apply(x, factor)


def identity_rule(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    return IdentityRule.apply(x, fn)


def uniform_product(a: Tensor, b: Tensor) -> Tensor:
    return UniformProduct.apply(a, b)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm with its normalising factor held constant in the backward pass (the identity rule).

    Follows transformers' dtype path exactly (normalise in float32, cast back, then scale) so the forward
    value is bit-identical to the original module.
    """
    input_dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps).detach()
    return weight * h.to(input_dtype)
