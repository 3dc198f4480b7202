"""Evidence: the passage inside a chunk that carries a sentence, as character spans a reader can highlight."""

from __future__ import annotations

import itertools
import json
import re
import unicodedata

import pytest
import torch
from tiny_models import byte_tokenizer

from rag_attrib.aggregate import EVIDENCE_WINDOW, evidence, evidence_units
from rag_attrib.errors import InvalidInputError
from rag_attrib.types import AttributionResult, Chunk, Citation, Evidence, Span

SENTENCES = ["The lighthouse stands on the cape.", "It was built in 1872 by Harald Voss.", "Its lamp is bright."]


def units_for(chunk: Chunk, prompt: str):
    tokenizer = byte_tokenizer()
    enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    span = Span(prompt.index(chunk.text.split()[0]), len(prompt))  # the chunk ends the prompt
    tokens = [t for t, (s, e) in enumerate(enc["offset_mapping"]) if span.start <= s < span.end]
    return evidence_units(chunk, prompt, span, enc["offset_mapping"], (tokens[0], tokens[-1] + 1)), enc


def test_the_sentence_with_the_relevance_is_the_evidence_with_its_share_by_hand():
    chunk = Chunk("c", " ".join(SENTENCES))
    prompt = "Sources: " + chunk.text
    units, enc = units_for(chunk, prompt)
    assert [s.of(chunk.text) for s in units.spans] == SENTENCES
    relevance = torch.zeros(len(enc["input_ids"]))
    relevance[units.tokens[1][0]] = 3.0  # 3 of the chunk's 4 units of positive relevance in sentence 2
    relevance[units.tokens[0][0]] = 1.0
    relevance[units.tokens[2][0]] = -5.0  # negative relevance never counts as evidence
    found = evidence(relevance, units)
    assert [e.span.of(chunk.text) for e in found] == [SENTENCES[1]]  # sentence 1 has less than half of the best
    assert found[0].share == pytest.approx(3 / 4) and found[0].source_span is None


def test_passages_with_at_least_half_the_best_share_are_all_kept_best_first():
    chunk = Chunk("c", " ".join(SENTENCES), {"start_index": 500})
    units, enc = units_for(chunk, "Sources: " + chunk.text)
    relevance = torch.zeros(len(enc["input_ids"]))
    relevance[units.tokens[0][0]], relevance[units.tokens[2][0]] = 2.0, 1.5
    found = evidence(relevance, units)
    assert [e.span.of(chunk.text) for e in found] == [SENTENCES[0], SENTENCES[2]]
    assert found[0].share == pytest.approx(2 / 3.5)
    assert found[1].source_span == Span(500 + found[1].span.start, 500 + found[1].span.end)
    header = Chunk("c", "Title: T\n\n" + chunk.text, {"start_index": 500, "text_offset": 10})
    header_units, enc = units_for(header, "Sources: " + header.text)
    relevance = torch.zeros(len(enc["input_ids"]))
    relevance[header_units.tokens[0][0]], relevance[header_units.tokens[1][0]] = 2.0, 1.5
    in_header, in_text = evidence(relevance, header_units)
    assert in_header.span.of(header.text) == "Title: T" and in_header.source_span is None
    assert in_text.source_span == Span(500 + in_text.span.start - 10, 500 + in_text.span.end - 10)
    assert evidence(torch.zeros(len(enc["input_ids"])), units) == ()


def test_a_chunk_without_sentences_falls_back_to_token_windows():
    code = "x = compute(alpha, beta, gamma) + another_function_call(delta, epsilon) * third_term(zeta, eta, theta)"
    chunk = Chunk("code", code)
    units, _ = units_for(chunk, "Sources: " + code)
    assert len(units.spans) == 3  # 86 non-space bytes, one token each
    assert all(len(t) <= EVIDENCE_WINDOW for t in units.tokens)
    assert_tiles(units.spans, code)


def assert_tiles(spans, text):
    """The spans cover ``text`` in order, each from a word's first character to one's last, with only the
    whitespace between words between them."""
    assert spans[0].start == 0 and spans[-1].end == len(text)
    for a, b in itertools.pairwise(spans):
        assert a.end < b.start and text[a.end : b.start].isspace()
    assert all(not s.of(text)[0].isspace() and not s.of(text)[-1].isspace() for s in spans)


def word_pieces(text: str):
    """Offsets of a byte-level BPE like SmolLM2's: a token carries the space before it (" Har", "ald")."""
    return [(m.start(), m.end()) for m in re.finditer(r" ?\w{1,3}| ?[^\w\s]+|\s+", text)]


def pieces_units(chunk: Chunk, offsets_of=word_pieces):
    prompt = "Sources: " + chunk.text
    offsets = offsets_of(prompt)
    start = len("Sources: ")
    tokens = [t for t, (s, e) in enumerate(offsets) if e > start]
    return evidence_units(chunk, prompt, Span(start, len(prompt)), offsets, (tokens[0], tokens[-1] + 1))


def test_a_long_sentence_whose_first_token_carries_the_space_before_it_starts_on_its_first_word():
    words = ["Harald", "Voss"] + [f"w{i}" for i in range(48)]
    chunk = Chunk("c", " ".join(words) + ".")  # one sentence of 50 words: cut into windows
    units = pieces_units(chunk)
    assert len(units.spans) > 1
    assert units.spans[0].of(chunk.text).startswith("Harald Voss")  # not "ald Voss"
    assert_tiles(units.spans, chunk.text)
    assert sum(map(len, units.tokens)) == len(word_pieces(chunk.text))  # " Har" belongs to the first window
    assert all(0 < len(t) <= EVIDENCE_WINDOW for t in units.tokens)


def test_every_sentences_first_token_counts_in_its_sentence():
    chunk = Chunk("c", " ".join(SENTENCES))
    units = pieces_units(chunk)
    assert [s.of(chunk.text) for s in units.spans] == SENTENCES
    assert [len(t) for t in units.tokens] == [len(word_pieces(" " + s)) for s in SENTENCES]


def test_no_passage_starts_on_a_combining_mark():
    arabic = " ".join(["كَتَبَ", "الوَلَدُ", "الدَّرْسَ", "فِي", "المَدْرَسَةِ"] * 4)  # one sentence, no stop
    no_spaces = "e\u0301" * 70  # decomposed accents and nothing to cut at but characters
    for text in (arabic, no_spaces):
        chunk = Chunk("c", text)
        units = pieces_units(chunk, lambda prompt: [(m.start(), m.end()) for m in re.finditer(r" ?\S", prompt)])
        assert len(units.spans) > 1
        assert all(not unicodedata.category(text[s.start]).startswith("M") for s in units.spans)
        assert units.spans[0].start == 0 and units.spans[-1].end == len(text)
        assert "".join(s.of(text) for s in units.spans).replace(" ", "") == text.replace(" ", "")


def test_evidence_indexes_the_chunk_text_even_when_the_prompt_rewraps_it():
    chunk = Chunk("c", " ".join(SENTENCES))
    prompt = "Sources:\n" + "\n   ".join(SENTENCES)  # the template re-wrapped the chunk
    units, _ = units_for(chunk, prompt)
    assert [s.of(chunk.text) for s in units.spans] == SENTENCES


def test_evidence_round_trips_and_version_1_results_still_load():
    citation = Citation("c", 2.0, 0.5, (Evidence(Span(3, 9), 0.8, Span(103, 109)),))
    assert Citation.from_dict(json.loads(json.dumps(citation.to_dict()))) == citation
    old = {"format": "rag_attrib.result", "version": 1, "model": "m", "target": "token", "proxy": True,
           "min_share": 0.27, "question": "q", "prompt": "p", "answer": "a.",
           "chunks": [{"id": "c", "text": "t", "metadata": {}}], "chunk_spans": [[0, 1]],
           "sentences": [{"text": "a.", "span": [0, 2], "cited": [], "grounding": 0.1, "target_value": 1.0,
                          "citations": [{"chunk_id": "c", "score": 1.0, "share": 0.1}]}]}
    result = AttributionResult.from_dict(old)
    assert result.sentences[0].citations[0].evidence == ()


def test_attributor_fills_evidence_for_cited_chunks_all_or_none(tiny_attributor):
    from rag_attrib import Attributor

    chunks = [Chunk("a", "Harald Voss built it. It is tall."), Chunk("b", "Mira bakes bread. She sells it.")]
    kwargs = {"question": "Who built it?", "chunks": chunks, "answer": "Harald Voss built it."}
    model, tokenizer = tiny_attributor.model, tiny_attributor.tokenizer
    every = Attributor(model, tokenizer, evidence="all", min_share=0.0).attribute(**kwargs).sentences[0]
    assert all(c.evidence for c in every.citations if c.share > 0)
    sentences = {"a": {"Harald Voss built it.", "It is tall."}, "b": {"Mira bakes bread.", "She sells it."}}
    for c in every.citations:
        text = next(ch.text for ch in chunks if ch.id == c.chunk_id)
        assert {e.span.of(text) for e in c.evidence} <= sentences[c.chunk_id]
    cited = Attributor(model, tokenizer, min_share=0.0).attribute(**kwargs).sentences[0]
    assert [c.evidence for c in cited.citations if c.chunk_id in cited.cited] == \
        [c.evidence for c in every.citations if c.chunk_id in cited.cited]
    none = Attributor(model, tokenizer, evidence="none").attribute(**kwargs).sentences[0]
    assert all(c.evidence == () for c in none.citations)
    with pytest.raises(InvalidInputError, match="evidence must be one of"):
        Attributor(model, tokenizer, evidence="some")
