"""The default model: Qwen2.5-Coder-0.5B-Instruct, assembled from six data packages (dependencies of rag-attrib).

The first load assembles the GGUF (about 12 s) and converts it (minutes); later loads read the cached copy.
"""

from __future__ import annotations

import os

import pytest
from test_end_to_end import CASES, CHUNKS

from rag_attrib import ModelNotFoundError
from rag_attrib.model import OFFLINE, part_files


def _missing() -> str | None:
    try:
        part_files(OFFLINE["qwen2.5-0.5b"])
    except ModelNotFoundError as err:
        return f"the Qwen parts are not installed (`pip install rag-attrib` installs them): {err}"
    return None


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qwen():
    from rag_attrib import Attributor

    if _missing():  # the default model: CI (CI=true) must run these tests
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {_missing()}")
        pytest.skip(_missing())
    return Attributor.load()


def test_it_is_the_default_with_its_threshold(qwen):
    assert qwen.min_share == 0.29


def test_it_is_qwen2(qwen):
    assert qwen.model.config.model_type == "qwen2"
    assert qwen.model_name == "Qwen2.5-Coder-0.5B-Instruct" and qwen.tokenizer.chat_template


@pytest.mark.parametrize("question,answer,gold", CASES)
def test_single_source_answer_cites_its_chunk(qwen, question, answer, gold):
    result = qwen.attribute(question, CHUNKS, answer)
    for sentence in result.sentences:
        assert sentence.top.chunk_id == gold, (sentence.text, sentence.citations)
        assert gold in sentence.cited


def test_check_model_passes(qwen):
    from rag_attrib.model_check import check_model

    report = check_model(qwen.model, qwen.tokenizer, name="qwen2.5-0.5b")
    assert report.ok, report.problems


def test_an_invented_sentence_is_ungrounded_while_the_chunks_sentences_are_cited(qwen):
    """The case that once cited the lighthouse chunk for a sentence no chunk states: the support model says no."""
    answer = "The bakery is run by Mira Tollan. It sells tollencake. It opened in 1990."
    result = qwen.attribute("Who runs the bakery?", CHUNKS, answer)
    *stated, invented = result.sentences
    assert invented.cited == () and invented.support < 0.5, invented
    for sentence in stated:
        assert sentence.cited == ("bakery",) and sentence.support > invented.support, sentence
