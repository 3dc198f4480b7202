"""Offline LlamaIndex pieces for the tests: a bag-of-words embedding, a scripted LLM, a stand-in Attributor,
and a guard that fails any test trying to reach the network."""

from __future__ import annotations

import socket

import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.schema import TextNode
from llamaindex_fakes import QUENBY, BagOfWordsEmbedding, OverlapAttributor, ScriptedLLM


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail loudly if anything (a tokenizer, NLTK, a default OpenAI model) tries to go online."""

    def refuse(self, address, *args):
        raise RuntimeError(f"network access attempted during a test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(autouse=True)
def offline_settings():
    """Global defaults that never reach OpenAI: LlamaIndex would otherwise build an OpenAI LLM/embedding."""
    Settings.embed_model = BagOfWordsEmbedding()
    Settings.llm = ScriptedLLM(answers={})


# Fixtures rather than imports from this file: a bare `from conftest import ...` may find another conftest
# module when this suite runs together with the core's tests.


@pytest.fixture
def quenby() -> dict[str, str]:
    return dict(QUENBY)


@pytest.fixture
def quenby_index() -> VectorStoreIndex:
    nodes = [TextNode(id_=node_id, text=text) for node_id, text in QUENBY.items()]
    return VectorStoreIndex(nodes, embed_model=BagOfWordsEmbedding())


@pytest.fixture
def attributor() -> OverlapAttributor:
    return OverlapAttributor()


@pytest.fixture
def scripted_llm() -> type[ScriptedLLM]:
    return ScriptedLLM


@pytest.fixture(scope="session")
def smollm():
    """The embedded SmolLM2-135M-Instruct as a rag_attrib Attributor (slow tests only)."""
    from rag_attrib import Attributor

    return Attributor.load("smollm2")
