"""End to end with the embedded SmolLM2: it answers inside the example's LCEL chain (an in-memory vector
store with a deterministic embedding, a chat prompt template, SmolLM2 as a chat model) and attributes."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from langchain_core.language_models import FakeListChatModel
from rag_attrib_langchain import with_citations

from rag_attrib import Attributor

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "langchain_rag.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2() -> Attributor:
    return Attributor.load("smollm2")


@pytest.fixture(scope="module")
def example() -> dict:
    """The example's module namespace (its LocalChatModel wraps SmolLM2 as a LangChain chat model)."""
    return runpy.run_path(str(EXAMPLE))


def test_the_local_models_single_source_answer_cites_the_right_document(smollm2, example):
    chat_model = example["LocalChatModel"](model=smollm2.model, tokenizer=smollm2.tokenizer)
    chain = example["build_chain"](chat_model)
    out = with_citations(chain, smollm2).invoke("Where does the ferry to Quenby leave from?")

    assert "Ardel" in out["output"]  # a fact only the ferry document holds
    (sentence,) = out["citations"]["sentences"]
    assert sentence["citations"][0]["chunk_id"] == "ferry" and sentence["cited"] == ["ferry"]
    assert {c["id"] for c in out["citations"]["chunks"]} == {"lighthouse", "bakery", "ferry", "school"}


def test_an_answer_from_another_model_is_scored_by_the_local_one(smollm2, example):
    api_model = FakeListChatModel(responses=["The bakery is run by Mira Tollan. The lighthouse dates from 1872."])
    chain = example["build_chain"](api_model)
    out = with_citations(chain, smollm2).invoke("Who runs the bakery, and how old is the lighthouse?")
    citations = out["citations"]

    assert citations["proxy"] is True and citations["model"] == smollm2.model_name
    assert [s["citations"][0]["chunk_id"] for s in citations["sentences"]] == ["bakery", "lighthouse"]


def test_the_example_prints_each_sentence_with_its_cited_document(example, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    example["main"]()

    printed = capsys.readouterr().out
    # the default model writes the answer; its wording is the model's, its facts and citation are checked
    answer = next(line for line in printed.splitlines() if line.startswith("Answer:"))
    assert "Ardel" in answer, printed
    assert "1. " in printed and "Ardel.\n   cites quenby/ferry.txt (" in printed, printed
