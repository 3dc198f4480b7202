"""with_citations: the chain's output plus its citations, through invoke, batch, ainvoke, abatch and LCEL."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import PROMPT, QUESTIONS, BrokenAttributor, QuoteContextChat, join_documents, rag_chain
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

from rag_attrib_langchain import with_citations


@pytest.fixture
def retriever(vector_store):
    return vector_store.as_retriever(search_kwargs={"k": 1})


def cited_ids(citations):
    return [chunk["id"] for chunk in citations["chunks"]]


def test_a_string_output_comes_back_as_output_plus_citations(retriever, spy):
    chain = rag_chain(retriever, QuoteContextChat())
    out = with_citations(chain, spy).invoke("Who runs the bakery?")

    (doc,) = retriever.invoke("Who runs the bakery?")
    assert set(out) == {"output", "citations"}
    assert out["output"] == chain.invoke("Who runs the bakery?") == doc.page_content
    citations = out["citations"]
    assert cited_ids(citations) == [doc.id] and citations["chunks"][0]["metadata"] == doc.metadata
    assert citations["answer"] == out["output"] and citations["proxy"] is True
    assert [s["text"] for s in citations["sentences"]] == [out["output"]]
    assert "token_relevance" not in citations


def test_a_dict_output_gets_a_citations_entry_and_keeps_the_rest(retriever, spy):
    answer = PROMPT | QuoteContextChat()
    chain = RunnableParallel(context=retriever | join_documents, question=RunnablePassthrough()).assign(
        answer=answer
    )
    out = with_citations(chain, spy).invoke("Who runs the bakery?")

    assert set(out) == {"context", "question", "answer", "citations"}
    assert out["question"] == "Who runs the bakery?" and isinstance(out["answer"], AIMessage)
    assert out["citations"]["answer"] == out["answer"].content


def test_a_message_output_comes_back_as_output_plus_citations(retriever, spy):
    chain = {"context": retriever | join_documents, "question": RunnablePassthrough()} | PROMPT | QuoteContextChat()
    out = with_citations(chain, spy).invoke("Who runs the bakery?")

    assert isinstance(out["output"], AIMessage) and out["citations"]["answer"] == out["output"].content


def test_a_failed_attribution_leaves_the_output_unchanged_and_says_why(retriever):
    chain = rag_chain(retriever, QuoteContextChat())
    out = with_citations(chain, BrokenAttributor()).invoke("Who runs the bakery?")

    assert out == {"output": chain.invoke("Who runs the bakery?"),
                   "citations": {"error": "RuntimeError: the attributor broke"}}


def test_it_composes_in_lcel(retriever, spy):
    pipeline = RunnableLambda(str.strip) | with_citations(rag_chain(retriever, QuoteContextChat()), spy) | (
        lambda out: (out["output"], cited_ids(out["citations"]))
    )
    output, ids = pipeline.invoke("  Who runs the bakery?  ")

    (doc,) = retriever.invoke("Who runs the bakery?")
    assert (output, ids) == (doc.page_content, [doc.id])


def expected_ids(retriever):
    return [[doc.id for doc in retriever.invoke(q)] for q in QUESTIONS]


def test_batch_keeps_each_runs_citations_with_its_output(retriever, spy):
    cited = with_citations(rag_chain(retriever, QuoteContextChat(delay_s=0.05)), spy)
    outs = cited.batch(QUESTIONS)

    assert [cited_ids(out["citations"]) for out in outs] == expected_ids(retriever)
    assert all(out["citations"]["answer"] == out["output"] for out in outs)
    assert cited.handler.latest is not None and cited.handler.pop(cited.handler.latest.run_id) is None


def test_async_invoke_and_batch(retriever, spy):
    cited = with_citations(rag_chain(retriever, QuoteContextChat(delay_s=0.05)), spy)

    async def run():
        return await cited.ainvoke(QUESTIONS[0]), await cited.abatch(QUESTIONS)

    one, many = asyncio.run(run())
    assert cited_ids(one["citations"]) == expected_ids(retriever)[0]
    assert [cited_ids(out["citations"]) for out in many] == expected_ids(retriever)
    assert all(out["citations"]["answer"] == out["output"] for out in many)


def test_an_existing_citations_entry_is_replaced_with_a_warning(retriever, spy, caplog):
    chain = rag_chain(retriever, QuoteContextChat()) | (lambda answer: {"answer": answer, "citations": "mine"})
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        out = with_citations(chain, spy).invoke("Who runs the bakery?")
    assert "sentences" in out["citations"] and "already has a 'citations' entry" in caplog.text

    out = with_citations(chain, spy, key="sources").invoke("Who runs the bakery?")
    assert out["citations"] == "mine" and "sentences" in out["sources"]


def test_the_input_schema_is_the_chains(retriever, spy):
    chain = rag_chain(retriever, QuoteContextChat())
    cited = with_citations(chain, spy)
    assert cited.get_input_schema().model_json_schema() == chain.get_input_schema().model_json_schema()
    with pytest.raises(TypeError, match="must be a LangChain Runnable"):
        with_citations(lambda q: q, spy)
