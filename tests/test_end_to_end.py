"""End to end on SmolLM2-135M-Instruct, the fast named model (the first run converts the GGUF, ~20 s; then cached).

The default model, Qwen2.5-Coder-0.5B-Instruct, has its own end-to-end tests (test_qwen.py, the README's snippets).
"""

from __future__ import annotations

import pytest

from rag_attrib import Attributor, Chunk

pytestmark = pytest.mark.slow

# Fictional facts on one topic, so the model can only know them from the chunks.
CHUNKS = [
    Chunk("festival", "The Zorblat festival is held every March in the town of Quenby. It features lantern boats on the river."),
    Chunk("bakery", "Quenby's bakery, run by Mira Tollan, sells a honey bread called tollencake that locals eat at breakfast."),
    Chunk("lighthouse", "The Quenby lighthouse was built in 1872 by the engineer Harald Voss and is painted green and white."),
    Chunk("ferry", "Quenby has a population of about 4,000 people and is reached by ferry from the mainland port of Ardel."),
]
CASES = [
    ("Who built the Quenby lighthouse?", "The lighthouse was built by Harald Voss in 1872.", "lighthouse"),
    ("Who runs the bakery in Quenby?", "The bakery is run by Mira Tollan. It sells tollencake.", "bakery"),
    ("How do you get to Quenby?", "You take the ferry from Ardel.", "ferry"),
    ("When is the Zorblat festival?", "The Zorblat festival is held every March. It has lantern boats.", "festival"),
]


@pytest.fixture(scope="module")
def smol():
    return Attributor.load("smollm2")


@pytest.mark.parametrize("question,answer,gold", CASES)
@pytest.mark.parametrize("target", ["token", "max"])
def test_single_source_answer_cites_its_chunk(smol, question, answer, gold, target):
    result = smol.attribute(question, CHUNKS, answer, target=target)
    for sentence in result.sentences:
        assert sentence.top.chunk_id == gold, (sentence.text, sentence.citations)
        assert gold in sentence.cited
        assert sentence.grounding > 0.5


@pytest.mark.parametrize("question,gold", [(CASES[0][0], CASES[0][2]), (CASES[2][0], CASES[2][2])])
def test_generated_answer_is_attributed(smol, question, gold):
    result = smol.attribute(question, CHUNKS)
    assert not result.proxy and result.answer.strip()
    assert result.sentences[0].top.chunk_id == gold, (result.answer, result.sentences[0].citations)


def test_conservation_band_on_the_trained_model(smol):
    # Measured on SmolLM2-135M: sum(input relevance) / target is 0.37-0.44 for the "token" target. The rest
    # is absorbed where the softmax rule is not conservative (about 1-5% per layer, never a jump; see
    # the per-layer numbers of `rag-attrib check-model`). A rule off by a factor would leave this band.
    ratios = []
    for question, answer, _ in CASES:
        result = smol.attribute(question, CHUNKS, answer)
        ratios += [sum(row) / s.target_value for row, s in zip(result.token_relevance.values, result.sentences)]
    print("conservation ratios:", [round(r, 3) for r in ratios])
    assert all(0.25 < r < 0.65 for r in ratios), ratios


def test_a_long_prompt_gets_the_same_relevance_with_the_mlp_in_blocks(smol):
    """Past ``FEED_FORWARD_BLOCK`` tokens ``memory="low"`` builds the MLPs' graphs block by block: the same
    relevance as the whole graph on the real model (float32: the blocks' products may round differently)."""
    import torch

    from rag_attrib.lrp.relevance import FEED_FORWARD_BLOCK, sentence_relevance

    prompt = smol.tokenizer(" ".join(c.text for c in CHUNKS * 40))["input_ids"][: FEED_FORWARD_BLOCK + 60]
    answer = smol.tokenizer(" " + CASES[0][1] + " It is painted green and white.")["input_ids"]
    ids, start = torch.tensor(prompt + answer), len(prompt)
    spans = [(start, start + 13), (start + 13, len(ids))]
    fast = sentence_relevance(smol.model, ids, start, spans, memory="fast")
    low = sentence_relevance(smol.model, ids, start, spans, memory="low")
    torch.testing.assert_close(low.targets, fast.targets, rtol=1e-6, atol=0)
    torch.testing.assert_close(low.relevance, fast.relevance, rtol=0, atol=1e-5 * fast.relevance.abs().max().item())
