"""The memory policy of the engine: ``memory="low"`` (one decoder layer's graph at a time) gives the same
relevance as the whole graph on every family, recomputing each layer once per answer; the choice between
the two, its estimate and its validation."""

from __future__ import annotations

import itertools

import pytest
import torch
from family_models import FAMILIES, tiny_model

from rag_attrib.errors import InvalidInputError
from rag_attrib.lrp import attnlrp, layer_by_layer
from rag_attrib.lrp.relevance import activation_bytes, check_memory, forward_targets, memory_plan, sentence_relevance

IDS = torch.randint(3, 97, (40,), generator=torch.Generator().manual_seed(2))
SENTENCES = [(24, 29), (29, 35), (35, 40)]


def both(model, **kwargs):
    fast = sentence_relevance(model, IDS, 24, SENTENCES, memory="fast", **kwargs)
    low = sentence_relevance(model, IDS, 24, SENTENCES, memory="low", **kwargs)
    return fast, low


@pytest.mark.parametrize("family", FAMILIES)
def test_low_memory_gives_bit_identical_relevance(family):
    model = tiny_model(family, num_hidden_layers=3)  # kept inputs of layers 0 and 2; layer 1 recomputed
    (fast, fast_values, fast_logprobs), (low, low_values, low_logprobs) = both(model)
    assert torch.equal(low_values, fast_values) and torch.equal(low_logprobs, fast_logprobs)
    assert torch.equal(low, fast), (low - fast).abs().max()


@pytest.mark.parametrize("family", ["llama", "gpt2", "mixtral", "gemma2"])
def test_low_memory_with_the_batched_backward(family):
    (fast, *_), (low, *_) = both(tiny_model(family, num_hidden_layers=3), backward="batched")
    assert torch.equal(low, fast), (low - fast).abs().max()


@pytest.mark.parametrize("backward", ["loop", "batched"])
@pytest.mark.parametrize("family", FAMILIES)
def test_low_memory_with_the_mlp_in_token_blocks_gives_the_same_relevance(family, backward, monkeypatch):
    monkeypatch.setattr(layer_by_layer, "FEED_FORWARD_BLOCK", 16)  # 40 tokens: 16 + 16 + 8, a last block cut short
    model = tiny_model(family, num_hidden_layers=3)
    (fast, fast_values, _), (low, low_values, _) = both(model, backward=backward)
    # Bit-identical on most families; a matrix product over fewer rows may round differently (GPT-2, OLMo 2).
    torch.testing.assert_close(low_values, fast_values, rtol=1e-13, atol=0)
    torch.testing.assert_close(low, fast, rtol=0, atol=1e-13 * fast.abs().max().item())


def test_long_prompts_build_the_mlp_graph_one_block_at_a_time(monkeypatch):
    monkeypatch.setattr(layer_by_layer, "FEED_FORWARD_BLOCK", 16)
    model = tiny_model("llama", num_hidden_layers=2)
    calls = []
    for i, layer in enumerate(model.model.layers):
        layer.mlp.down_proj.register_forward_hook(
            lambda m, args, out, i=i: calls.append((i, args[0].shape[-2], out.requires_grad)))
    sentence_relevance(model, IDS, 24, SENTENCES, memory="low")
    assert [tokens for _, tokens, _ in calls[:3]] == [16, 16, 8]  # every token, in blocks
    # with graph: each layer's 3 blocks once per answer (not per sentence); without: the recorded forward,
    # layer 0 recomputed to give layer 1 its input, and each layer step's own pass, 3 blocks each
    assert sorted(layer for layer, _, graph in calls if graph) == [0] * 3 + [1] * 3
    assert sorted(layer for layer, _, graph in calls if not graph) == [0] * 9 + [1] * 6


@pytest.mark.parametrize("n_layers", [1, 2, 3, 24, 30, 80])
def test_segments_keep_as_few_layer_inputs_alive_as_a_triangle_allows(n_layers):
    segments = layer_by_layer._segments(n_layers)
    assert segments[0][0] == 0 and segments[-1][1] == n_layers
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(segments))
    # inputs alive while segment j is pulled through: j + 1 kept (its own included) + its other layers' inputs
    alive = max(j + 1 + (end - start - 1) for j, (start, end) in enumerate(segments))
    smallest = next(c for c in range(1, n_layers + 1) if c * (c + 1) // 2 >= n_layers)
    assert alive == smallest
    assert alive == {1: 1, 2: 2, 3: 2, 24: 7, 30: 8, 80: 13}[n_layers]


def test_low_memory_without_the_rules_gives_gradient_times_input():
    (fast, *_), (low, *_) = both(tiny_model("llama", num_hidden_layers=3), lrp=False)
    assert torch.equal(low, fast)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_each_layer_is_recomputed_once_per_answer_not_per_sentence(checkpointing):
    model = tiny_model("llama", num_hidden_layers=5)  # segments of 3 and 2 layers
    if checkpointing:  # the layers' own checkpointing is set aside, else it would recompute per sentence
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    calls = []
    hooks = [layer.mlp.down_proj.register_forward_pre_hook(lambda m, _, i=i: calls.append(i))
             for i, layer in enumerate(model.model.layers)]
    reference, *_ = sentence_relevance(model, IDS, 24, SENTENCES, memory="fast")
    calls.clear()
    low, *_ = sentence_relevance(model, IDS, 24, SENTENCES, memory="low")
    for hook in hooks:
        hook.remove()
    # recorded forward 0-4; then, from the top, segment [3, 4]: 3 without graph, 4 and 3 with graph;
    # segment [0, 1, 2]: 0 and 1 without graph, then 2, 1, 0 with graph
    assert calls == [0, 1, 2, 3, 4, 3, 4, 3, 0, 1, 2, 1, 0]
    assert (low - reference).abs().max() <= 1e-6 * reference.abs().max()
    assert not any(layer.training for layer in model.model.layers)


def test_freed_memory_goes_back_to_the_system_after_each_layer(monkeypatch):
    """glibc keeps freed blocks in its heap, where they fragment; ``memory="low"`` trims once per layer."""
    import rag_attrib.lrp.memory as memory_module

    trims = []

    class FakeLibc:
        def malloc_trim(self, pad):
            trims.append(pad)

    monkeypatch.setattr(memory_module, "_libc", lambda: FakeLibc())
    model = tiny_model("llama", num_hidden_layers=4)
    sentence_relevance(model, IDS, 24, SENTENCES, memory="fast")
    assert trims == []
    sentence_relevance(model, IDS, 24, SENTENCES, memory="low")
    assert trims == [0] * 4


def test_an_application_can_make_glibc_return_large_freed_blocks_at_once(monkeypatch):
    import rag_attrib.lrp.memory as memory_module

    calls = []

    class FakeLibc:
        def mallopt(self, option, value):
            calls.append((option, value))
            return 1

    monkeypatch.setattr(memory_module, "_libc", lambda: FakeLibc())
    assert memory_module.return_freed_memory_at_once() is True
    assert calls == [(-3, 65536)]  # M_MMAP_THRESHOLD: blocks of 64 kB and more are mapped on their own
    monkeypatch.setattr(memory_module, "_libc", lambda: None)  # no glibc (musl, macOS, Windows): nothing to set
    assert memory_module.return_freed_memory_at_once() is False


def saved_bytes_per_token_layer(model, length):
    sizes = {}

    def pack(t):
        sizes[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    def count(n):
        sizes.clear()
        ids = torch.randint(3, 97, (n,), generator=torch.Generator().manual_seed(0))
        with attnlrp(model), torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward_targets(model, ids, n - 4, [(n - 4, n)], "token")
        return sum(sizes.values())

    return (count(2 * length) - count(length)) / length / model.config.num_hidden_layers


def test_activation_estimate_matches_the_saved_tensors_of_a_llama():
    model = tiny_model("llama", dtype=torch.float32, max_position_embeddings=256)
    measured = saved_bytes_per_token_layer(model, 64)
    estimate = activation_bytes(model.config, 1, 4) / model.config.num_hidden_layers
    assert abs(estimate - measured) <= 0.1 * measured, (estimate, measured)


def test_the_plan_follows_the_budget():
    model = tiny_model("llama")
    need = activation_bytes(model.config, 40, 8)
    assert memory_plan(model, 40, need) == "fast"
    assert memory_plan(model, 40, need - 1) == "low"
    assert memory_plan(model, 40, "auto") == "fast"  # a tiny model fits any machine
    assert memory_plan(model, 40, "low") == "low" and memory_plan(model, 10**9, "fast") == "fast"


@pytest.mark.parametrize("memory", ["lots", "LOW", 0, -1, 1.5e9, True, None])
def test_invalid_memory_values_are_refused(memory):
    with pytest.raises(InvalidInputError, match="memory must be 'auto', 'fast', 'low' or a budget in bytes"):
        check_memory(memory)
    with pytest.raises(InvalidInputError):
        sentence_relevance(tiny_model("llama"), IDS, 24, SENTENCES, memory=memory)


def test_attributor_takes_the_memory_option():
    from tiny_models import byte_tokenizer, tiny_llama

    from rag_attrib import Attributor

    tokenizer = byte_tokenizer()
    model = tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=512)
    chunks = ["The lighthouse was built by Harald Voss in 1872.", "The bakery sells tollencake."]
    answer = "Voss built it. It sells cake."
    fast = Attributor(model, tokenizer, memory="fast").attribute("Who built it?", chunks, answer)
    low = Attributor(model, tokenizer, memory="low").attribute("Who built it?", chunks, answer)
    assert fast.token_relevance.values == low.token_relevance.values
    assert Attributor(model, tokenizer, memory=2**30).memory == 2**30
    with pytest.raises(InvalidInputError, match="memory must be"):
        Attributor(model, tokenizer, memory="small")
