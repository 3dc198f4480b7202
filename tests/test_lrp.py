"""attnlrp(model) on tiny random Llamas: the forward is unchanged, everything is restored, relevance is right."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_llama
from transformers import OPTConfig, OPTForCausalLM
from transformers.models.llama import modeling_llama

from rag_attrib.errors import InvalidInputError, UnsupportedModelError
from rag_attrib.lrp import attnlrp, is_patched, patched_modules
from rag_attrib.lrp.relevance import sentence_relevance

IDS = torch.randint(0, 97, (40,), generator=torch.Generator().manual_seed(1))
ANSWER_START = 25
SENTENCES = [(25, 31), (31, 36), (36, 40)]


def plain_input_gradient(model, ids):
    embeds = model.get_input_embeddings()(ids[None]).detach().requires_grad_(True)
    logit = model(inputs_embeds=embeds).logits[0, -1, 3]
    return torch.autograd.grad(logit, embeds)[0]


# ---------------------------------------------------------------- patch and restore


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_forward_is_identical_before_inside_and_after(attn):
    model = tiny_llama(attn)
    before = model(IDS[None]).logits
    with attnlrp(model):
        assert model.config._attn_implementation == f"rag_attrib_lrp_{attn}"
        inside = model(IDS[None]).logits
    after = model(IDS[None]).logits
    assert torch.equal(before, inside)
    assert torch.equal(before, after)


def test_everything_is_restored_on_exit():
    model = tiny_llama()
    model.train()
    config = model.config
    model.model.layers[0].mlp.gate_proj.weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    with attnlrp(model):
        assert is_patched(model)
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())
        assert model.config is not config
        assert "forward" in model.model.norm.__dict__
    assert not is_patched(model)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model.config is config and config._attn_implementation == "sdpa"
    assert all(m.config is config for m in model.modules() if hasattr(m, "config"))
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert modeling_llama.LlamaRMSNorm.forward.__qualname__ == "LlamaRMSNorm.forward"
    assert modeling_llama.LlamaMLP.forward.__qualname__ == "LlamaMLP.forward"


def test_restored_when_the_body_raises():
    model = tiny_llama()
    before = model(IDS[None]).logits
    with pytest.raises(KeyError), attnlrp(model):
        raise KeyError("boom")
    assert not is_patched(model)
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert torch.equal(model(IDS[None]).logits, before)


def test_a_second_instance_keeps_its_plain_gradients():
    model = tiny_llama(seed=0)
    other = tiny_llama(seed=0)
    other.config = model.config  # even when the two instances share one config object
    for m in other.modules():
        if hasattr(m, "config"):
            m.config = model.config
    plain = plain_input_gradient(other, IDS)
    with attnlrp(model):
        assert other.config._attn_implementation == "sdpa"
        assert torch.equal(plain_input_gradient(other, IDS), plain)
        assert not torch.allclose(plain_input_gradient(model, IDS), plain)  # the patched one is different


def test_generation_after_exit_is_unchanged():
    model = tiny_llama()
    kwargs = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
    before = model.generate(IDS[None, :10], **kwargs)
    with attnlrp(model):
        pass
    assert torch.equal(model.generate(IDS[None, :10], **kwargs), before)


def test_nesting_is_refused():
    model = tiny_llama()
    with attnlrp(model), pytest.raises(RuntimeError, match="already"), attnlrp(model):
        pass


def test_rules_cover_every_norm_and_mlp():
    model = tiny_llama()
    names = {name: rule for name, _, rule in patched_modules(model)}
    assert len(names) == 2 * 2 + 1 + 2  # two norms per layer, the final norm, one MLP per layer
    assert names["model.norm"].startswith("identity")


def test_unsupported_architecture_names_the_supported_ones():
    opt = OPTForCausalLM(OPTConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, ffn_dim=32,
                                   vocab_size=50, word_embed_proj_dim=16))
    with pytest.raises(UnsupportedModelError, match="model_type='opt'.*gpt2.*llama.*mistral.*qwen2") as err, \
            attnlrp(opt):
        pass
    assert "register" in str(err.value)


# ---------------------------------------------------------------- relevance


def float64_eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention, but with the softmax in the model's dtype (it forces float32)."""
    key = modeling_llama.repeat_kv(key, module.num_key_value_groups)
    value = modeling_llama.repeat_kv(value, module.num_key_value_groups)
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = torch.softmax(weights, dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def test_eager_and_sdpa_relevance_agree_in_float64(monkeypatch):
    # transformers' eager kernel computes the softmax in float32 even in a float64 model, which alone
    # moves logits by ~1e-7; with that one cast removed, the two kernels must agree to 1e-8.
    monkeypatch.setattr(modeling_llama, "eager_attention_forward", float64_eager_attention)
    model = tiny_llama("sdpa")
    sdpa, *_ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES)
    logits_sdpa = model(IDS[None]).logits
    model.set_attn_implementation("eager")
    assert (model(IDS[None]).logits - logits_sdpa).abs().max() < 1e-12
    eager, *_ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES)
    assert (eager - sdpa).abs().max() < 1e-8


def test_stock_eager_and_sdpa_relevance_agree_to_float32_softmax_precision():
    model = tiny_llama("sdpa")
    sdpa, *_ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES)
    model.set_attn_implementation("eager")
    eager, *_ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES)
    assert (eager - sdpa).abs().max() < 1e-6 * sdpa.abs().max()


def test_graph_reuse_equals_a_fresh_pass_per_sentence_and_batched_backward():
    model = tiny_llama()
    looped, values, _ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES)
    for i, span in enumerate(SENTENCES):
        fresh, value, _ = sentence_relevance(model, IDS, ANSWER_START, [span])
        assert torch.allclose(fresh[0], looped[i], atol=1e-12, rtol=0)
        assert value.item() == pytest.approx(values[i].item(), abs=1e-12)
    batched, *_ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES, backward="batched")
    assert torch.allclose(batched, looped, atol=1e-12, rtol=0)


def test_target_value_is_the_sum_of_the_answer_token_logits():
    model = tiny_llama()
    _, values, _ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES, target="token")
    logits = model(IDS[None]).logits[0]
    a, b = SENTENCES[1]
    expected = sum(logits[t - 1, IDS[t]].item() for t in range(a, b))
    assert values[1].item() == pytest.approx(expected, abs=1e-10)


def test_relevance_matches_a_slow_reference_implementation():
    """An independent Llama forward written from the weights, with each rule as the paper states it
    (uniform rule on both attention matmuls, not our q/k/v shortcut), gives the same relevance."""
    model = tiny_llama("sdpa")
    ours, *_ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES)
    reference = reference_relevance(model, IDS, SENTENCES)
    assert torch.allclose(ours, reference, atol=1e-9, rtol=0), (ours - reference).abs().max()


def test_skipped_tokens_count_in_no_target():
    # The backward pass is linear in the target, so leaving token 33 out of sentence (31, 36) must give that
    # sentence's relevance less token 33's own (up to the norms' float32 normalisers).
    model = tiny_llama()
    whole, values, logprobs = sentence_relevance(model, IDS, ANSWER_START, [(31, 36), (33, 34)])
    skipped, value, logprob = sentence_relevance(model, IDS, ANSWER_START, [(31, 36)], skip=[33])
    assert torch.allclose(skipped[0], whole[0] - whole[1], atol=1e-7, rtol=0)
    assert value.item() == pytest.approx((values[0] - values[1]).item(), abs=1e-12)
    assert logprob.item() == pytest.approx((logprobs[0] - logprobs[1]).item(), abs=1e-12)
    assert not torch.allclose(skipped[0], whole[0], atol=1e-3, rtol=0)
    low, *_ = sentence_relevance(model, IDS, ANSWER_START, [(31, 36)], skip=[33], memory="low")
    assert torch.allclose(low, skipped, atol=1e-9, rtol=0)
    with pytest.raises(InvalidInputError, match="outside the answer"):
        sentence_relevance(model, IDS, ANSWER_START, [(31, 36)], skip=[8])  # relative, not absolute


@pytest.mark.parametrize("target", ["token", "max"])
def test_conservation_is_exact_without_attention_mixing(target):
    # With o_proj zeroed the attention branch adds nothing, so relevance flows only through the norms
    # (identity rule), the gated MLPs (identity + uniform rules), the residual stream and the LM head, all
    # conservative in a bias-free Llama: the input relevance must sum exactly to the target.
    model = tiny_llama()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
    relevance, values, _ = sentence_relevance(model, IDS, ANSWER_START, SENTENCES, target=target)
    assert torch.allclose(relevance.sum(-1), values, atol=1e-6, rtol=1e-6)  # the norms normalise in float32


# ---------------------------------------------------------------- the slow reference


def reference_relevance(model, ids, spans):
    cfg = model.config
    n, heads, kv_heads = len(ids), cfg.num_attention_heads, cfg.num_key_value_heads
    d = cfg.hidden_size // heads
    eps = cfg.rms_norm_eps

    def norm(x, weight):  # identity rule: the normaliser is a constant (float32, as transformers does)
        x32 = x.to(torch.float32)
        return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps).detach()).to(x.dtype)

    def uniform_matmul(a, b):  # product of two activations: each factor gets half
        return 0.5 * (a @ b.detach() + a.detach() @ b)

    def identity_act(fn, x):  # element-wise non-linearity: gradient f(x)/x
        return x * (fn(x) / x).detach()

    # cos/sin are constants; take them from the model so they carry its float32 rounding.
    cos, sin = model.model.rotary_emb(model.model.embed_tokens.weight[:1], torch.arange(n)[None])
    cos, sin = cos[0], sin[0]

    def rope(x):
        half = torch.cat([-x[..., d // 2 :], x[..., : d // 2]], -1)
        return x * cos + half * sin

    causal = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    embeds = model.model.embed_tokens.weight[ids].detach().clone().requires_grad_(True)
    h = embeds
    for layer in model.model.layers:
        att, mlp = layer.self_attn, layer.mlp
        x = norm(h, layer.input_layernorm.weight)
        q = rope((x @ att.q_proj.weight.T).view(n, heads, d).transpose(0, 1))
        k = rope((x @ att.k_proj.weight.T).view(n, kv_heads, d).transpose(0, 1))
        v = (x @ att.v_proj.weight.T).view(n, kv_heads, d).transpose(0, 1)
        k, v = k.repeat_interleave(heads // kv_heads, 0), v.repeat_interleave(heads // kv_heads, 0)
        probs = torch.softmax(uniform_matmul(q, k.transpose(1, 2)) * d**-0.5 + causal, -1)
        out = uniform_matmul(probs, v).transpose(0, 1).reshape(n, heads * d)
        h = h + out @ att.o_proj.weight.T
        x = norm(h, layer.post_attention_layernorm.weight)
        gate = identity_act(torch.nn.functional.silu, x @ mlp.gate_proj.weight.T)
        h = h + (0.5 * (gate * (x @ mlp.up_proj.weight.T).detach() + gate.detach() * (x @ mlp.up_proj.weight.T))) @ mlp.down_proj.weight.T
    logits = norm(h, model.model.norm.weight) @ model.lm_head.weight.T
    rows = []
    for a, b in spans:
        target = sum(logits[t - 1, ids[t]] for t in range(a, b))
        (grad,) = torch.autograd.grad(target, embeds, retain_graph=True)
        rows.append((grad * embeds).sum(-1))
    return torch.stack(rows).detach()


def test_transformers_4_is_refused_with_a_clear_error():
    import subprocess
    import sys

    code = "import transformers; transformers.__version__ = '4.57.1'; import rag_attrib.lrp"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert "rag_attrib needs transformers 5.x (found 4.57.1)" in run.stderr
    assert "pip install 'transformers>=5,<6'" in run.stderr


# ---------------------------------------------------------------- who owns the patch state


def lxt_style_wrapper(kernel):
    """What LXT's process-wide ``monkey_patch`` installs: a wrapper outside transformers around its kernel."""

    def attention_forward(module, query, key, value, *args, **kwargs):
        return kernel(module, query, key, value, *args, **kwargs)

    return attention_forward


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_a_kernel_wrapped_by_another_library_is_refused(attn, monkeypatch):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    model = tiny_llama(attn)
    if attn == "eager":
        monkeypatch.setattr(modeling_llama, "eager_attention_forward",
                            lxt_style_wrapper(modeling_llama.eager_attention_forward))
    else:
        monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS, "sdpa", lxt_style_wrapper(ALL_ATTENTION_FUNCTIONS["sdpa"]))  # as LXT does
    with pytest.raises(UnsupportedModelError, match="would compound"), attnlrp(model):
        pass
    assert not is_patched(model)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_our_own_kernel_wrapped_by_another_library_is_refused(attn):
    """A library that wraps every entry of the attention registry (LXT's monkey_patch) wraps ours too, once an
    attribution has registered it: the rules would compound, so nothing is computed."""
    from transformers import AttentionInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from rag_attrib.lrp.patch import PREFIX

    model = tiny_llama(attn)
    ids = torch.arange(1, 9)
    reference = sentence_relevance(model, ids, 6, [(6, 8)]).relevance  # registers our entry
    name = PREFIX + attn
    ours = ALL_ATTENTION_FUNCTIONS[name]
    AttentionInterface.register(name, lxt_style_wrapper(ours))
    try:
        with pytest.raises(UnsupportedModelError, match=f"'{name}' attention kernel \\(replaced by test_lrp"):
            sentence_relevance(model, ids, 6, [(6, 8)])
        assert not is_patched(model)
    finally:
        AttentionInterface.register(name, ours)
    assert torch.equal(sentence_relevance(model, ids, 6, [(6, 8)]).relevance, reference)


def test_a_kernel_written_from_scratch_is_not_a_wrapper(monkeypatch):
    from rag_attrib.lrp.patch import foreign_kernels

    def my_eager(module, query, key, value, attention_mask, **kwargs):  # no transformers kernel inside
        raise NotImplementedError

    model = tiny_llama("eager")
    assert foreign_kernels(model) == []
    monkeypatch.setattr(modeling_llama, "eager_attention_forward", my_eager)
    assert foreign_kernels(model) == []


def test_attnlrp_holds_the_models_lock():
    import threading

    from rag_attrib.lrp import model_lock

    model = tiny_llama()
    acquired = []
    with attnlrp(model):
        thread = threading.Thread(target=lambda: acquired.append(model_lock(model).acquire(blocking=False)))
        thread.start()
        thread.join()
    assert acquired == [False]  # another thread cannot take the model while it is patched
    assert model_lock(model).acquire(blocking=False)
    model_lock(model).release()


def test_attention_kernel_switches_and_restores():
    from rag_attrib.lrp import attention_kernel

    model = tiny_llama("sdpa")
    with attention_kernel(model, "eager"):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == "sdpa"
    with pytest.raises(KeyError), attention_kernel(model, "eager"):
        raise KeyError("boom")
    assert model.config._attn_implementation == "sdpa"


def test_is_patched_sees_a_leftover_forward_but_not_a_foreign_one():
    import types

    from rag_attrib.lrp.arch.llama import rms_norm_forward

    model = tiny_llama()
    model.model.layers[0].self_attn.forward = types.MethodType(lambda self, *a, **k: None, model)  # e.g. accelerate
    assert not is_patched(model)
    model.model.norm.forward = types.MethodType(rms_norm_forward, model.model.norm)
    assert is_patched(model)
