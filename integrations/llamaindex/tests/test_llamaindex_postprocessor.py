"""AttributionPostprocessor in a real VectorStoreIndex query engine, with a scripted LLM and a stand-in
Attributor (word overlap), so each test checks the integration's logic in milliseconds."""

from __future__ import annotations

import logging
import socket

import pytest
from llama_index.core import Document, PromptTemplate, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from rag_attrib_llamaindex import AttributionPostprocessor, LocalLLM
from rag_attrib_llamaindex.capture import query_watcher

BAKERY_Q = "Who runs the bakery in Quenby?"
BAKERY_A = "Mira Tollan runs the bakery. It sells a honey bread called tollencake."


def make_engine(index, attributor, llm, **kwargs):
    kwargs.setdefault("similarity_top_k", 3)
    return index.as_query_engine(llm=llm, node_postprocessors=[AttributionPostprocessor(attributor)], **kwargs)


@pytest.fixture
def bakery_llm(scripted_llm):
    """The scripted LLM answering the bakery question; keyword arguments change its settings."""
    return lambda **settings: scripted_llm(answers={BAKERY_Q: BAKERY_A}, **settings)


def retrieval_scores(index, question, top_k=3):
    return {n.node.node_id: n.score for n in index.as_retriever(similarity_top_k=top_k).retrieve(question)}


@pytest.mark.parametrize("chat_model", [False, True], ids=["completion", "chat"])
def test_single_source_answer_cites_its_node(quenby, quenby_index, attributor, bakery_llm, chat_model):
    response = make_engine(quenby_index, attributor, bakery_llm(chat_model=chat_model)).query(BAKERY_Q)

    assert str(response) == BAKERY_A
    citations = response.metadata["citations"]
    assert [c["text"] for c in citations] == ["Mira Tollan runs the bakery.",
                                              "It sells a honey bread called tollencake."]
    assert all(c["cited"] == ["bakery"] for c in citations)
    assert all(BAKERY_A[slice(*c["span"])] == c["text"] for c in citations)
    info = response.metadata["attribution"]
    assert info["error"] is None and info["proxy"] is True and info["llm_calls"] == 1
    assert info["question"] == BAKERY_Q and info["answer"] == BAKERY_A
    assert sorted(info["attributed_nodes"]) == sorted(n.node.node_id for n in response.source_nodes)

    # The attributor saw the prompt the LLM got: chat messages as they were, a completion prompt as one user turn.
    prompt = attributor.calls[-1]["prompt"]
    assert [m["role"] for m in prompt] == (["system", "user"] if chat_model else ["user"])
    assert BAKERY_Q in prompt[-1]["content"] and quenby["bakery"] in prompt[-1]["content"]


def test_source_nodes_carry_attribution_scores_and_keep_retrieval_scores(quenby_index, attributor, bakery_llm):
    response = make_engine(quenby_index, attributor, bakery_llm()).query(BAKERY_Q)

    scores = {n.node.node_id: n.score for n in response.source_nodes}
    assert scores.pop("bakery") == 1.0  # every sentence gives it the whole share
    assert set(scores.values()) == {0.0}
    kept = {n.node.node_id: n.node.metadata["retrieval_score"] for n in response.source_nodes}
    assert kept == retrieval_scores(quenby_index, BAKERY_Q)
    assert len(set(kept.values())) == 3  # distinct similarities, so a mix-up would show
    for n in response.source_nodes:  # the kept score never leaks into a later prompt or embedding
        assert "retrieval_score" not in n.node.get_content(MetadataMode.LLM)
        assert "retrieval_score" not in n.node.get_content(MetadataMode.EMBED)


def test_postprocessors_after_it_decide_which_nodes_are_attributed(quenby_index, attributor, bakery_llm):
    scores = retrieval_scores(quenby_index, BAKERY_Q)
    cutoff = sorted(scores.values())[1]  # drops the least similar of the three nodes
    postprocessors = [AttributionPostprocessor(attributor), SimilarityPostprocessor(similarity_cutoff=cutoff)]
    engine = quenby_index.as_query_engine(llm=bakery_llm(), similarity_top_k=3, node_postprocessors=postprocessors)
    response = engine.query(BAKERY_Q)

    kept = sorted(scores, key=scores.get)[1:]
    assert response.metadata["attribution"]["error"] is None
    assert sorted(response.metadata["attribution"]["attributed_nodes"]) == sorted(kept)


def test_documents_split_into_nodes_offline_are_cited_by_node_id(quenby, attributor, bakery_llm):
    # from_documents runs LlamaIndex's default SentenceSplitter (NLTK and tiktoken data): no_network guards it.
    index = VectorStoreIndex.from_documents([Document(id_=k, text=v) for k, v in quenby.items()])
    response = make_engine(index, attributor, bakery_llm()).query(BAKERY_Q)

    [cited] = response.metadata["citations"][0]["cited"]
    by_id = {n.node.node_id: n.node for n in response.source_nodes}
    assert by_id[cited].ref_doc_id == "bakery"


def test_chunks_know_where_their_node_sits_in_its_document(quenby, attributor, bakery_llm):
    # so that evidence spans get offsets in the source document (Evidence.source_span)
    documents = [Document(id_=k, text=v, metadata={"file_name": f"{k}.txt"}) for k, v in quenby.items()]
    make_engine(VectorStoreIndex.from_documents(documents), attributor, bakery_llm()).query(BAKERY_Q)
    chunks = attributor.calls[-1]["chunks"]
    assert chunks and all(c.metadata["text_offset"] > 0 for c in chunks)  # after the metadata header
    for chunk in chunks:
        meta, document = chunk.metadata, quenby[chunk.metadata["doc_id"]]
        bare = chunk.text[meta["text_offset"]:]
        assert document[meta["start_index"] : meta["start_index"] + len(bare)] == bare


def test_network_access_fails_the_test():
    with pytest.raises(RuntimeError, match="network access"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # an address reserved for documentation


def test_node_text_is_taken_as_the_prompt_shows_it_with_its_metadata_header(quenby, attributor, bakery_llm):
    index = VectorStoreIndex([TextNode(id_=k, text=v, metadata={"file_name": f"{k}.txt"}) for k, v in quenby.items()])
    response = make_engine(index, attributor, bakery_llm()).query(BAKERY_Q)

    assert response.metadata["attribution"]["error"] is None
    chunks = {c.id: c.text for c in attributor.calls[-1]["chunks"]}
    assert chunks["bakery"] == f"file_name: bakery.txt\n\n{quenby['bakery']}"
    assert response.metadata["citations"][0]["cited"] == ["bakery"]


def test_template_that_rewrites_node_text_records_chunk_not_found(quenby_index, attributor, bakery_llm, caplog):
    shouting = PromptTemplate(
        "Context:\n{context_str}\nQuery: {query_str}\nAnswer: ",
        function_mappings={"context_str": lambda **kwargs: kwargs["context_str"].upper()},
    )
    engine = make_engine(quenby_index, attributor, bakery_llm(), text_qa_template=shouting)
    with caplog.at_level(logging.WARNING, logger="rag_attrib_llamaindex"):
        response = engine.query(BAKERY_Q)

    assert str(response) == BAKERY_A  # the query itself is untouched
    assert response.metadata["citations"] == []
    error = response.metadata["attribution"]["error"]
    assert error["type"] == "ChunkNotFoundError" and "'lighthouse'" in error["message"]
    assert "ChunkNotFoundError" in caplog.text
    assert {n.node.node_id: n.score for n in response.source_nodes} == retrieval_scores(quenby_index, BAKERY_Q)


class BrokenAttributor:
    def attribute_prompt(self, *args, **kwargs):
        raise RuntimeError("the attribution model ran out of memory")


def test_attributor_failure_never_breaks_the_query(quenby_index, bakery_llm, caplog):
    with caplog.at_level(logging.WARNING, logger="rag_attrib_llamaindex"):
        response = make_engine(quenby_index, BrokenAttributor(), bakery_llm()).query(BAKERY_Q)

    assert str(response) == BAKERY_A
    assert response.metadata["attribution"]["error"] == {
        "type": "RuntimeError", "message": "the attribution model ran out of memory"}
    assert "ran out of memory" in caplog.text and "Traceback" in caplog.text  # unexpected: logged in full


def test_source_nodes_are_sorted_by_attribution_score_best_first(quenby_index, attributor, scripted_llm):
    answer = "The ferry from the mainland port of Ardel sails six times a day."  # the retriever ranks bakery first
    llm = scripted_llm(answers={BAKERY_Q: answer})
    response = make_engine(quenby_index, attributor, llm, similarity_top_k=4).query(BAKERY_Q)

    assert next(iter(retrieval_scores(quenby_index, BAKERY_Q, top_k=4))) != "ferry"
    assert response.source_nodes[0].node.node_id == "ferry"
    scores = [n.score for n in response.source_nodes]
    assert scores == sorted(scores, reverse=True)


def test_streamed_response_is_attributed_when_drained(quenby_index, attributor, bakery_llm):
    response = make_engine(quenby_index, attributor, bakery_llm(), streaming=True).query(BAKERY_Q)

    assert isinstance(response, StreamingResponse)
    assert str(response) == BAKERY_A
    assert response.metadata["attribution"]["error"] is None
    assert [c["cited"] for c in response.metadata["citations"]] == [["bakery"], ["bakery"]]


def test_refine_attributes_the_final_call_and_the_node_in_it(quenby, quenby_index, attributor, bakery_llm):
    response = make_engine(quenby_index, attributor, bakery_llm(), response_mode="refine").query(BAKERY_Q)

    order = list(retrieval_scores(quenby_index, BAKERY_Q))  # refine makes one call per node, in this order
    info = response.metadata["attribution"]
    assert info["error"] is None and info["llm_calls"] == 3
    assert info["attributed_nodes"] == order[-1:] and info["unattributed_nodes"] == order[:-1]
    final_prompt = attributor.calls[-1]["prompt"][-1]["content"]
    assert "existing answer" in final_prompt and quenby[order[0]] not in final_prompt
    scores = {n.node.node_id: n.score for n in response.source_nodes}
    assert [scores[i] for i in order[:-1]] == [None, None]  # not attributed, not zero
    assert [n.node.node_id for n in response.source_nodes] == order[-1:] + order[:-1]  # unattributed last, in order
    assert all(n.node.metadata["retrieval_score"] is not None for n in response.source_nodes)


def test_compact_over_more_than_one_prompt_attributes_the_nodes_whole_in_the_last(quenby, quenby_index, attributor,
                                                                                 bakery_llm):
    llm = bakery_llm(context_window=700)  # four nodes need two prompts
    response = make_engine(quenby_index, attributor, llm, similarity_top_k=4).query(BAKERY_Q)

    info = response.metadata["attribution"]
    assert info["error"] is None and info["llm_calls"] == 2
    final_prompt = " ".join(attributor.calls[-1]["prompt"][-1]["content"].split())
    whole = [n.node.node_id for n in response.source_nodes if n.node.text in final_prompt]
    assert whole and info["attributed_nodes"] == whole
    assert sorted(info["attributed_nodes"] + info["unattributed_nodes"]) == sorted(quenby)


def test_tree_summarize_over_summaries_records_that_no_node_reached_the_final_call(quenby_index, attributor,
                                                                                  bakery_llm):
    llm = bakery_llm(context_window=180)  # several summaries, then one over them
    response = make_engine(quenby_index, attributor, llm, similarity_top_k=4,
                           response_mode="tree_summarize").query(BAKERY_Q)

    assert str(response) == BAKERY_A
    info = response.metadata["attribution"]
    assert info["llm_calls"] > 1 and info["error"]["type"] == "NoChunksError"
    assert "context window" in info["error"]["message"]


def test_only_queries_of_engines_with_the_postprocessor_are_attributed(quenby_index, attributor, bakery_llm):
    llm = bakery_llm()
    make_engine(quenby_index, attributor, llm)  # installs the instrumentation handlers
    plain = quenby_index.as_query_engine(llm=llm, similarity_top_k=3).query(BAKERY_Q)

    assert "citations" not in plain.metadata and "attribution" not in plain.metadata
    assert all(n.node.metadata == {} for n in plain.source_nodes)


def test_a_failing_query_raises_as_usual_and_leaves_nothing_behind(quenby_index, attributor, bakery_llm):
    engine = make_engine(quenby_index, attributor, bakery_llm())
    with pytest.raises(LookupError, match="no scripted answer"):
        engine.query("What is the capital of Quenby?")
    assert engine.query(BAKERY_Q).metadata["attribution"]["error"] is None

    watcher = query_watcher()
    assert not (watcher._watches or watcher._queries or watcher._llm_spans or watcher._parents)


def test_outside_a_query_the_postprocessor_passes_nodes_through_and_warns(attributor, caplog):
    nodes = [NodeWithScore(node=TextNode(id_="a", text="Some text."), score=0.5)]
    with caplog.at_level(logging.WARNING, logger="rag_attrib_llamaindex"):
        out = AttributionPostprocessor(attributor).postprocess_nodes(nodes, query_str="q")
    assert out == nodes
    assert "outside a query engine" in caplog.text


def test_attributor_of_the_wrong_type_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"rag_attrib\.Attributor\.load\(\)"):
        AttributionPostprocessor("SmolLM2-135M-Instruct")


def test_local_llm_of_the_wrong_type_is_refused_with_the_fix(attributor):
    with pytest.raises(TypeError, match=r"rag_attrib\.Attributor\.load\(\)"):
        LocalLLM(attributor)  # it can attribute but has no model to answer with
