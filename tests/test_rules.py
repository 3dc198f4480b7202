"""Each AttnLRP rule on toy tensors against a value derived by hand."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from rag_attrib.lrp.patch import lrp_attention_name
from rag_attrib.lrp.rules import identity_rule, rms_norm, scale_gradient, uniform_product

f64 = dict(dtype=torch.float64)


def test_scale_gradient_keeps_value_and_scales_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], **f64, requires_grad=True)
    y = scale_gradient(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 4.0], **f64)).sum().backward()
    assert x.grad.tolist() == [0.25, 0.5, 1.0]


def test_identity_rule_on_silu_passes_relevance_through():
    # d/dx of the rule is silu(x)/x = sigmoid(x); relevance x * grad equals the output silu(x).
    x = torch.tensor([2.0, -1.0, 0.0], **f64, requires_grad=True)
    y = identity_rule(torch.nn.functional.silu, x)
    assert torch.equal(y, torch.nn.functional.silu(x))
    y.sum().backward()
    sigmoid = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0)), 0.0]
    assert x.grad.tolist() == pytest.approx(sigmoid, abs=1e-15)
    assert (x * x.grad).tolist() == pytest.approx(y.tolist(), abs=1e-15)


def test_identity_rule_on_gelu():
    x = torch.tensor([0.5, -3.0], **f64, requires_grad=True)
    y = identity_rule(torch.nn.functional.gelu, x)
    y.sum().backward()
    assert (x.grad * x).tolist() == pytest.approx(torch.nn.functional.gelu(x).tolist(), abs=1e-15)


def test_uniform_product_halves_each_factor():
    a = torch.tensor([2.0, 3.0], **f64, requires_grad=True)
    b = torch.tensor([5.0, 7.0], **f64, requires_grad=True)
    y = uniform_product(a, b)
    assert y.tolist() == [10.0, 21.0]
    y.sum().backward()
    assert a.grad.tolist() == [2.5, 3.5]  # b / 2
    assert b.grad.tolist() == [1.0, 1.5]  # a / 2
    # relevance is conserved: a*ga + b*gb == a*b
    assert (a * a.grad + b * b.grad).tolist() == [10.0, 21.0]


def test_uniform_product_broadcasts():
    a = torch.tensor([[2.0], [4.0]], **f64, requires_grad=True)  # a routing weight per row
    b = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]], **f64, requires_grad=True)
    uniform_product(a, b).sum().backward()
    assert a.grad.tolist() == [[3.0], [1.5]]  # sum of b over the broadcast dim, halved
    assert b.grad.tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]


def test_rms_norm_holds_the_normaliser_constant():
    x = torch.tensor([3.0, 4.0], **f64, requires_grad=True)
    w = torch.tensor([1.0, 2.0], **f64)
    y = rms_norm(x, w, eps=0.0)
    c = 1 / math.sqrt(12.5)  # rsqrt(mean([9, 16])); transformers normalises in float32, hence 1e-7
    assert y.tolist() == pytest.approx([3 * c, 8 * c], rel=1e-7)
    y.sum().backward()
    assert x.grad.tolist() == pytest.approx([c, 2 * c], rel=1e-7)  # w * c, no derivative of c
    assert (x * x.grad).sum().item() == pytest.approx(y.sum().item(), rel=1e-7)  # conserved


def test_rms_norm_matches_transformers_dtype_path_bit_for_bit():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    norm = LlamaRMSNorm(8, eps=1e-6).to(torch.bfloat16)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 8, dtype=torch.bfloat16)
    assert torch.equal(rms_norm(x, norm.weight, norm.variance_epsilon), norm(x))


def test_attention_rule_quarters_queries_keys_and_halves_values():
    """Through the registered wrapper: q, k gradients are 1/4 of the plain ones, v gradients 1/2,
    and the values receive exactly half of the output relevance (A @ v is linear in v)."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 4, 3, **f64, requires_grad=True) for _ in range(3))
    g = torch.randn(1, 4, 1, 3, **f64)
    from transformers.models.llama.modeling_llama import LlamaAttention
    from transformers.models.llama.modeling_llama import eager_attention_forward as eager

    module = LlamaAttention(LlamaConfig(hidden_size=3, num_attention_heads=1, num_key_value_heads=1), 0).eval()
    lrp = ALL_ATTENTION_FUNCTIONS[lrp_attention_name("eager")]

    out_plain, _ = eager(module, q, k, v, None, scaling=0.5)
    plain = torch.autograd.grad((out_plain * g).sum(), (q, k, v))
    out_lrp, _ = lrp(module, q, k, v, None, scaling=0.5)
    assert torch.equal(out_lrp, out_plain)
    rule = torch.autograd.grad((out_lrp * g).sum(), (q, k, v))
    assert torch.allclose(rule[0], plain[0] / 4, atol=1e-15)
    assert torch.allclose(rule[1], plain[1] / 4, atol=1e-15)
    assert torch.allclose(rule[2], plain[2] / 2, atol=1e-15)
    assert (v * rule[2]).sum().item() == pytest.approx(0.5 * (out_plain * g).sum().item(), abs=1e-12)


def saved_bytes(fn, *inputs):
    """Bytes of the tensors autograd saves for the backward of ``fn(*inputs)``."""
    sizes = []

    def pack(t):
        sizes.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    return sum(sizes)


def test_rules_save_one_tensor_per_gradient_they_return():
    x = torch.randn(4, 8, **f64, requires_grad=True)
    # the identity rule keeps only f(x)/x, not x and f(x)
    assert saved_bytes(lambda t: identity_rule(torch.nn.functional.silu, t), x) == x.numel() * 8
    assert saved_bytes(uniform_product, x, x.detach().clone().requires_grad_(True)) == 2 * x.numel() * 8
    assert saved_bytes(lambda t: scale_gradient(t, 0.5), x) == 0


def test_rules_build_no_graph_without_gradients():
    x = torch.randn(3, **f64, requires_grad=True)
    with torch.no_grad():
        assert identity_rule(torch.nn.functional.silu, x).grad_fn is None
        assert uniform_product(x, x).grad_fn is None
    assert identity_rule(torch.nn.functional.silu, x.detach()).grad_fn is None


@pytest.mark.parametrize("rule", ["identity", "uniform", "scale"])
def test_batched_backward_through_each_rule_equals_one_backward_per_vector(rule):
    torch.manual_seed(0)
    x = torch.randn(5, 6, **f64)
    x[0, 0] = 0.0  # the identity rule's zero guard
    x.requires_grad_(True)
    other = torch.randn(5, 1, **f64, requires_grad=True)  # a broadcast factor
    inputs = (x, other) if rule == "uniform" else (x,)
    y = {"identity": lambda: identity_rule(torch.nn.functional.silu, x),
         "uniform": lambda: uniform_product(x, other),
         "scale": lambda: scale_gradient(x, 0.25)}[rule]()
    vectors = torch.randn(3, *y.shape, **f64)
    batched = torch.autograd.grad(y, inputs, vectors, is_grads_batched=True, retain_graph=True)
    for i, v in enumerate(vectors):
        single = torch.autograd.grad(y, inputs, v, retain_graph=True)
        assert all(torch.equal(b[i], s) for b, s in zip(batched, single))
