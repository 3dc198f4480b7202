"""Attributor on a tiny random Llama with a byte tokenizer: data flow, errors, the result's JSON form."""

from __future__ import annotations

import pytest
import torch
from tiny_models import byte_tokenizer, tiny_llama
from transformers import OPTConfig, OPTForCausalLM

from rag_attrib import (
    AttributionResult,
    Attributor,
    Chunk,
    ChunkNotFoundError,
    ContextTooLongError,
    EmptyAnswerError,
    NoChunksError,
    UnsupportedModelError,
)
from rag_attrib.aggregate import sentence_citations
from rag_attrib.lrp.relevance import sentence_relevance
from rag_attrib.prompt import Encoded, RenderedPrompt, encode, render_rag_prompt
from rag_attrib.types import Span

CHUNKS = [
    Chunk("doc-a", "The lighthouse of Quenby was built by Harald Voss in 1872.", {"source": "a.txt"}),
    Chunk("doc-b", "The bakery of Quenby sells tollencake at breakfast."),
    Chunk("doc-c", "Quenby is reached by ferry from Ardel."),
]
ANSWER = "Harald Voss built it in 1872. It is green [1]."


def test_result_structure_and_ids(tiny_attributor):
    result = tiny_attributor.attribute("Who built the lighthouse?", CHUNKS, ANSWER)
    assert [s.text for s in result.sentences] == ["Harald Voss built it in 1872.", "It is green [1]."]
    assert [s.span.of(result.answer) for s in result.sentences] == [s.text for s in result.sentences]
    assert result.proxy and result.answer == ANSWER and result.question == "Who built the lighthouse?"
    assert [c.id for c in result.chunks] == ["doc-a", "doc-b", "doc-c"]
    assert result.chunks[0].metadata == {"source": "a.txt"}
    for chunk, span in zip(result.chunks, result.chunk_spans):
        assert span.of(result.prompt) == chunk.text
    for sentence in result.sentences:
        assert {c.chunk_id for c in sentence.citations} == {"doc-a", "doc-b", "doc-c"}
        scores = [c.score for c in sentence.citations]
        assert scores == sorted(scores, reverse=True)
        assert 0.0 <= sentence.grounding <= 1.0 + 1e-9
        assert sentence.grounding == pytest.approx(sum(c.share for c in sentence.citations))
        assert set(sentence.cited) <= {c.chunk_id for c in sentence.citations if c.share >= result.min_share}
    tr = result.token_relevance
    assert len(tr.tokens) == len(tr.offsets) == len(tr.values[0]) and len(tr.values) == 2
    assert "".join(tr.tokens[tr.answer_start :]) == ANSWER


def test_plain_strings_get_their_prompt_numbers_as_ids(tiny_attributor):
    result = tiny_attributor.attribute("Who?", [c.text for c in CHUNKS], ANSWER)
    assert [c.id for c in result.chunks] == ["1", "2", "3"]
    assert f"[1] {CHUNKS[0].text}" in result.prompt


def test_chunk_scores_sum_the_chunk_tokens(tiny_attributor):
    result = tiny_attributor.attribute("Who built the lighthouse?", CHUNKS, ANSWER)
    tr = result.token_relevance
    for i, sentence in enumerate(result.sentences):
        for citation in sentence.citations:
            span = result.chunk_spans[[c.id for c in result.chunks].index(citation.chunk_id)]
            inside = [v for v, o in zip(tr.values[i], tr.offsets) if span.start <= o.start and o.end <= span.end]
            assert citation.score == pytest.approx(sum(inside), abs=1e-9)


def test_a_citation_marker_is_in_no_sentence_target(tiny_attributor):
    """A marker is read off the prompt's labels, not drawn from a chunk: at the end of the answer, where nothing
    after it depends on it, "[1]" and "[3]" leave the attribution exactly as it is."""
    question, text = "Who built the lighthouse?", "Harald Voss built it in 1872 "
    one, three = (tiny_attributor.attribute(question, CHUNKS, text + marker) for marker in ("[1]", "[3]"))
    assert one.sentences[0].citations == three.sentences[0].citations
    assert one.sentences[0].target_value == three.sentences[0].target_value
    assert [c.chunk_id for c in one.sentences[0].citations]  # the text itself is attributed, marker kept in it
    assert one.sentences[0].text.endswith("[1]")
    with_marker = encode(tiny_attributor.tokenizer, render_rag_prompt(tiny_attributor.tokenizer, question, CHUNKS),
                         text + "[1]")  # no skip: the marker would count
    _, values, _ = sentence_relevance(tiny_attributor.model, with_marker.input_ids, with_marker.answer_start,
                                      with_marker.sentence_tokens)
    assert values[0].item() != pytest.approx(one.sentences[0].target_value)


def test_a_sentence_of_markers_only_keeps_its_tokens(tiny_attributor):
    rendered = render_rag_prompt(tiny_attributor.tokenizer, "Who?", CHUNKS)
    answer = "Harald Voss built it [1]. [2]"
    enc = encode(tiny_attributor.tokenizer, rendered, answer, [Span(0, 25), Span(26, 29)],
                 skip=[Span(21, 24), Span(26, 29)])
    (a, b), (c, d) = enc.sentence_tokens
    assert enc.skip == tuple(range(a + 21, a + 24))  # one token per byte
    assert enc.target_tokens(0) == b - a - 3 and enc.target_tokens(1) == d - c == 3


def test_json_round_trip(tiny_attributor):
    result = tiny_attributor.attribute("Who built the lighthouse?", CHUNKS, ANSWER)
    again = AttributionResult.from_json(result.to_json())
    assert again == result
    slim = AttributionResult.from_dict(result.to_dict(token_relevance=False))
    assert slim.token_relevance is None and slim.sentences == result.sentences


def test_generated_answer_is_not_a_proxy(tiny_attributor):
    # A random model writes random bytes; the engine must still attribute whatever it wrote.
    try:
        result = tiny_attributor.attribute("Who built the lighthouse?", CHUNKS)
    except EmptyAnswerError:
        pytest.skip("the random model generated only whitespace")
    assert not result.proxy
    assert result.sentences


def test_attribute_prompt_locates_chunks_in_a_foreign_prompt(tiny_attributor):
    prompt = "Context:\n" + "\n".join(c.text for c in reversed(CHUNKS)) + "\nQ: Who built it?\nA:"
    result = tiny_attributor.attribute_prompt(prompt, CHUNKS, " Harald Voss.")
    for chunk, span in zip(result.chunks, result.chunk_spans):
        assert span.of(prompt) == chunk.text
    assert result.prompt == prompt


def test_attribute_prompt_with_chat_messages(tiny_attributor):
    messages = [{"role": "user", "content": "Sources: " + " ".join(c.text for c in CHUNKS) + " Who built it?"}]
    result = tiny_attributor.attribute_prompt(messages, CHUNKS, "Harald Voss.")
    assert result.prompt.startswith("<|im_start|>user\n")


def test_template_and_first_tokens_never_count_as_context():
    tokenizer = byte_tokenizer()
    relevance = torch.tensor([100.0, 1.0, 3.0, 1.0, 5.0])  # token 0: attention sink
    enc = Encoded(RenderedPrompt("", (), ()), "a", [0, 1, 2, 3], [(0, 0)] * 4, [4], [(0, 1)], [Span(0, 1)], [(4, 5)],
                  [(2, 3)], content=torch.tensor([False, True, True, False]))
    mask = enc.context_mask(0)
    citations, grounding = sentence_citations(relevance, ["x"], [(2, 3)], mask)
    assert citations[0].share == pytest.approx(3 / 4)  # 100 (sink) and 1 (template) are not context
    assert grounding == pytest.approx(0.75)
    assert tokenizer  # the helper builds offline


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("answer", ["", "   \n\t "])
def test_empty_answer(tiny_attributor, answer):
    with pytest.raises(EmptyAnswerError, match="empty"):
        tiny_attributor.attribute("Who?", CHUNKS, answer)


def test_no_chunks(tiny_attributor):
    with pytest.raises(NoChunksError, match="at least one"):
        tiny_attributor.attribute("Who?", [], ANSWER)


def test_chunk_not_found(tiny_attributor):
    with pytest.raises(ChunkNotFoundError, match="doc-b"):
        tiny_attributor.attribute_prompt("Only: " + CHUNKS[0].text, CHUNKS[:2], "Voss.")


def test_prompt_and_answer_longer_than_the_context_window():
    tokenizer = byte_tokenizer()
    attributor = Attributor(tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=64), tokenizer)
    with pytest.raises(ContextTooLongError, match="context window of 64"):
        attributor.attribute("Who built the lighthouse?", CHUNKS, ANSWER)


def test_unsupported_architecture():
    opt = OPTForCausalLM(OPTConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, ffn_dim=32,
                                   vocab_size=259, word_embed_proj_dim=16))
    with pytest.raises(UnsupportedModelError, match="Supported model types: gemma2, gemma3_text, gpt2, granite"):
        Attributor(opt, byte_tokenizer())


def test_duplicate_chunk_ids_are_refused(tiny_attributor):
    with pytest.raises(ValueError, match="unique"):
        tiny_attributor.attribute("Who?", [Chunk("a", "x y"), Chunk("a", "z w")], ANSWER)


def test_bad_target(tiny_attributor):
    with pytest.raises(ValueError, match="target must be one of"):
        tiny_attributor.attribute("Who?", CHUNKS, ANSWER, target="sum")


def test_concurrent_attributions_on_one_model_take_turns(tiny_attributor):
    from concurrent.futures import ThreadPoolExecutor

    answers = [f"Harald Voss built it in 18{n}2." for n in range(6)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda a: tiny_attributor.attribute("Who?", CHUNKS, a), answers))
    assert [r.answer for r in results] == answers
    alone = tiny_attributor.attribute("Who?", CHUNKS, answers[3])
    assert results[3].sentences == alone.sentences
