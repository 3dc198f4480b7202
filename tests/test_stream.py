"""Attribution while the answer streams: when a sentence is settled, and the streamed result equal to
``attribute()`` on the finished answer, on tiny models of every family."""

from __future__ import annotations

import random

import pytest
import torch
from family_models import FAMILIES, tiny_model
from tiny_models import byte_tokenizer, tiny_llama

from rag_attrib import Attributor
from rag_attrib.errors import EmptyAnswerError, InvalidTypeError
from rag_attrib.stream import settled_sentences
from rag_attrib.text import split_sentences
from rag_attrib.types import AttributionResult, SentenceAttribution


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run many small steps: on a shared CPU, threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Answers with what makes a sentence boundary depend on the text after it.
ANSWERS = [
    "Paris is big. It is old. It has a river.",
    "Dr. Smith met Mr. Jones on Jan. 5. Use fruit, e.g. apples. We met at 9 a.m. and left.",
    "It cost $3.50 and rose 2.5% this year. Python 3.12.1 is out. See v1.2.3 for details.",
    "Is it big? Yes! Very big. No. 5 is here. It works.",
    'He said "Hi." Then he left. (It rained.) Then it stopped.',
    "It was built in 1872\u2026 Then it burned. ...and then? Nothing.",
    "Mira f\u00fchrt die B\u00e4ckerei. \U0001f35e Sie verkauft Brot.",
    "Sie verkauft z. B. Brot, d. h. Kuchen. Es kostet ca. 5 Euro. Gut.",
    "It costs approx. 5 EUR. Run ls -a. Then pick b. B is wrong. A. Smith said so.",
    "\u706f\u5854\u5efa\u4e8e1872\u5e74\u3002\u9762\u5305\u5e97\u5f88\u597d\uff01\u300c\u771f\u7684\uff1f\u300d\u662f\u3002",
    "It rained [1]. Then it stopped. [2] Paris is big. [2][3]. It is old. [^1] Next one.",
    "See [1, 2]. Then [3-5], ok. Also [Source 1] here. And \u30101\u2020source\u3011 there. Done (Source 2). End.",
    "Paris is big.\n[1]\nIt is old.\n[1] It has a river.\n\nKey facts:\n- Paris is big.\n* It is old. It is pretty.",
    "1. First item.\n2) Second item\n10. Tenth item. Closing words here.",
    "Use `arr[1]` here. Then `x. Y` there. Fine [2]. Last words.",
    "The U.S. economy grew. The E.U. did not. Mr. T. Smith agreed. So did Prof. Brown.",
    "Remove it first. dpkg -r removes the package. Store it as jsonb. git add stages it. It costs 5 USD. Done.",
    "See step 2. pg_dump writes a dump. It runs in Jan. and Feb. each year. The result is \"ok.\" then.",
]


def random_answers(n: int = 40) -> list[str]:
    words = ["Paris", "is", "big.", "Dr.", "e.g.", "a.m.", "$3.50", "2.5%", "v1.2", "caf\u00e9", "\u2013", "\U0001f642",
             "[1]", "[2][3]", "[doc-7]", "[^1]", "it", "Jan.", "U.S.", "(see", "x)", '"quoted."', "1.", "It", "The",
             "end.", "Yes!", "why?", "z.", "B.", "\n", "[1,", "2]."]
    rng = random.Random(0)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) for _ in range(n)]


@pytest.mark.parametrize("answer", ANSWERS + random_answers())
def test_a_settled_sentence_keeps_its_span_whatever_follows(answer):
    final = split_sentences(answer)
    for end in range(len(answer) + 1):
        prefix = answer[:end]
        spans = split_sentences(prefix)
        n = settled_sentences(prefix, spans)
        assert n < max(len(spans), 1) or not spans, "the last sentence is settled only by the end of the answer"
        assert spans[:n] == final[:n], (prefix, spans[:n], final[:n])


def test_a_sentence_is_settled_once_two_words_of_the_next_have_begun():
    answer = "Paris is big. It is old. It has a river."
    settled_at = {}
    for end in range(len(answer) + 1):
        settled_at.setdefault(settled_sentences(answer[:end]), answer[:end])
    assert settled_at[1] == "Paris is big. It i"
    assert settled_at[2] == "Paris is big. It is old. It h"
    assert settled_sentences("It rained. [1, 2") == 0  # a bracket may still close as a marker of "It rained."
    assert settled_sentences("\u5e74\u3002\u9762\u5305") == 1  # Chinese: no spaces between sentences


def tokenizer_and_model(family: str, **overrides):
    tokenizer = byte_tokenizer()
    position = {"n_positions": 2048} if family == "gpt2" else {"max_position_embeddings": 2048}
    model = tiny_model(family, vocab_size=len(tokenizer), scale=1.0, **position, **overrides)
    return tokenizer, model


CHUNKS = ["The lighthouse was built in 1872 by Harald Voss.", "The bakery sells a honey bread.",
          "The ferry leaves from Ardel."]
QUESTION = "Who built the lighthouse?"
ANSWER = "The lighthouse was built in 1872 [1]. Harald Voss built it. The bakery sells bread, and the ferry sails."


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def assert_same_result(streamed: AttributionResult, batch: AttributionResult, atol: float = 1e-9) -> None:
    assert streamed.answer == batch.answer and streamed.proxy == batch.proxy
    assert [(s.text, s.span, s.cited, s.support) for s in streamed.sentences] == [
        (s.text, s.span, s.cited, s.support) for s in batch.sentences]
    for a, b in zip(streamed.sentences, batch.sentences):
        assert a.target_value == pytest.approx(b.target_value, abs=atol)
        assert a.grounding == pytest.approx(b.grounding, abs=atol)
        assert [c.chunk_id for c in a.citations] == [c.chunk_id for c in b.citations]
        for x, y in zip(a.citations, b.citations):
            assert (x.score, x.share) == pytest.approx((y.score, y.share), abs=atol)
            assert [e.span for e in x.evidence] == [e.span for e in y.evidence]
    if batch.token_relevance is not None:
        got = torch.tensor(streamed.token_relevance.values)
        assert torch.allclose(got, torch.tensor(batch.token_relevance.values), atol=atol, rtol=0)


@pytest.mark.parametrize("backward", ["loop", "batched"])
@pytest.mark.parametrize("family", FAMILIES)
def test_streamed_result_equals_attribute_on_the_finished_answer(family, backward):
    tokenizer, model = tokenizer_and_model(family)
    attributor = Attributor(model, tokenizer, backward=backward, memory="fast", evidence="all")
    batch = attributor.attribute(QUESTION, CHUNKS, ANSWER)
    events = list(attributor.stream(QUESTION, CHUNKS, pieces(ANSWER)))

    *sentences, result = events
    assert all(isinstance(e, SentenceAttribution) for e in sentences) and isinstance(result, AttributionResult)
    assert_same_result(result, batch)
    # without a support model a streamed sentence is the final one; the last is settled by the end of the answer
    assert sentences == list(result.sentences[:-1])


@pytest.mark.parametrize("family", ["llama", "gemma2", "gpt2"])
def test_memory_low_streams_by_recomputing_each_sentence(family):
    tokenizer, model = tokenizer_and_model(family)
    attributor = Attributor(model, tokenizer, memory="low")
    stream = attributor.open_stream(QUESTION, CHUNKS)
    assert not stream.keeps_graph
    for piece in pieces(ANSWER):
        stream.feed(piece)
    assert_same_result(stream.finish(), Attributor(model, tokenizer, memory="fast").attribute(QUESTION, CHUNKS, ANSWER))


def test_each_sentence_arrives_once_its_text_is_settled_never_before_its_last_piece():
    tokenizer, model = tokenizer_and_model("llama")
    attributor = Attributor(model, tokenizer)
    stream = attributor.open_stream(QUESTION, CHUNKS)
    fed, arrivals = "", []
    for piece in pieces(ANSWER, 2):
        fed += piece
        arrivals += [(s, len(fed)) for s in stream.feed(piece)]
    result = stream.finish()

    assert [s for s, _ in arrivals] == list(result.sentences[:-1])  # the last one only at the end
    for sentence, fed_chars in arrivals:
        assert fed_chars > sentence.span.end  # after its last character, and a word of the next sentence
        assert fed_chars <= sentence.span.end + len(" Harald Vo")  # within two words of the next one


def test_the_local_model_writes_and_attributes_in_one_pass_as_attribute_does():
    tokenizer = byte_tokenizer()
    model = tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=2048, scale=1.0)
    attributor = Attributor(model, tokenizer, max_new_tokens=40)
    *_, streamed = attributor.stream(QUESTION, CHUNKS)
    batch = attributor.attribute(QUESTION, CHUNKS)
    assert not streamed.proxy and streamed.answer
    assert_same_result(streamed, batch)


def test_a_prompt_rendered_elsewhere_streams_as_attribute_prompt_does():
    tokenizer, model = tokenizer_and_model("qwen2")
    attributor = Attributor(model, tokenizer)
    messages = [{"role": "user", "content": "Sources:\n" + "\n".join(CHUNKS) + f"\n\nQuestion: {QUESTION}"}]
    *_, streamed = attributor.stream(chunks=CHUNKS, answer=pieces(ANSWER, 5), prompt=messages)
    assert_same_result(streamed, attributor.attribute_prompt(messages, CHUNKS, ANSWER))


def test_bad_pieces_and_empty_answers_are_refused():
    tokenizer, model = tokenizer_and_model("llama")
    attributor = Attributor(model, tokenizer)
    stream = attributor.open_stream(QUESTION, CHUNKS)
    with pytest.raises(InvalidTypeError, match="must be a str"):
        stream.feed(b"bytes")
    stream.feed("  ")
    with pytest.raises(EmptyAnswerError):
        stream.finish()


def test_sentences_given_out_on_tokens_that_changed_are_attributed_again(caplog):
    from rag_attrib.lrp.incremental import GrowingGraph

    tokenizer, model = tokenizer_and_model("llama")
    attributor = Attributor(model, tokenizer)
    batch = attributor.attribute(QUESTION, CHUNKS, ANSWER)

    # the first sentence's row says it was computed on another first token: the end attributes it again
    stream = attributor.open_stream(QUESTION, CHUNKS)
    given = [s for piece in pieces(ANSWER) for s in stream.feed(piece)]
    assert len(given) == 2
    row, value, logprob, (span, tokens, ids, skip) = stream._rows[0]
    stream._rows[0] = (row * 0, value, logprob, (span, tokens, (ids[0] + 1, *ids[1:]), skip))
    with caplog.at_level("WARNING", logger="rag_attrib.stream"):
        assert_same_result(stream.finish(), batch)
    assert "streamed sentence 0" in caplog.text

    # the graph holds another first answer token (as if the tokenizer had changed it): it is run again
    stream = attributor.open_stream(QUESTION, CHUNKS)
    given = [s for piece in pieces(ANSWER) for s in stream.feed(piece)]
    held = stream._graph.answer_ids
    stream._graph = GrowingGraph(model, stream._prompt_ids)
    stream._graph.extend([held[0] + 1, *held[1:]])
    assert_same_result(stream.finish(), batch)
