"""End to end with the embedded SmolLM2: it answers as the query engine's LLM (LocalLLM, through the chat
path), and the real Attributor attributes that answer (proxy attribution, as with any API model)."""

from __future__ import annotations

import asyncio

import pytest
from rag_attrib_llamaindex import AttributionPostprocessor, LocalLLM


@pytest.fixture
def engine(smollm, quenby_index):
    return quenby_index.as_query_engine(llm=LocalLLM(smollm), similarity_top_k=3,
                                        node_postprocessors=[AttributionPostprocessor(smollm)])


def assert_cites(response, node_id):
    info = response.metadata["attribution"]
    assert info["error"] is None and info["model"] == "SmolLM2-135M-Instruct" and info["proxy"] is True
    first = response.metadata["citations"][0]
    assert first["citations"][0]["chunk_id"] == node_id and node_id in first["cited"]
    assert max(response.source_nodes, key=lambda n: n.score).node.node_id == node_id


@pytest.mark.slow
def test_query_cites_the_single_source_node(engine):
    response = engine.query("When was the Quenby lighthouse built?")
    assert "1872" in str(response)  # the year is only in the lighthouse node
    assert_cites(response, "lighthouse")


@pytest.mark.slow
def test_aquery_cites_the_single_source_node(engine):
    response = asyncio.run(engine.aquery("What bread does the Quenby bakery sell?"))
    assert "tollencake" in str(response)  # the name is only in the bakery node
    assert_cites(response, "bakery")
