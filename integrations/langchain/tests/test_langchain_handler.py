"""CitationCallbackHandler on real LCEL chains (offline, fast: a tiny random Llama does the attribution)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from conftest import (
    DOCUMENTS,
    PROMPT,
    QUESTIONS,
    BrokenAttributor,
    QuoteContextChat,
    join_documents,
    rag_chain,
)
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel, FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

from rag_attrib_langchain import CitationCallbackHandler, document_chunks


def invoke(chain, question, handler):
    """Invoke with the handler and a known root run id; returns (output, run_id)."""
    run_id = uuid4()
    return chain.invoke(question, config={"callbacks": [handler], "run_id": run_id}), run_id


def test_a_chat_chain_is_attributed_to_the_documents_it_retrieved(vector_store, spy):
    question = "Who runs the bakery?"
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(rag_chain(vector_store.as_retriever(search_kwargs={"k": 2}), QuoteContextChat()),
                            question, handler)

    retrieved = vector_store.similarity_search(question, k=2)
    record = handler.result(run_id)
    assert record is handler.latest and record.run_id == run_id and record.error is None
    result = record.result
    assert [c.id for c in result.chunks] == [doc.id for doc in retrieved]
    assert [c.metadata for c in result.chunks] == [doc.metadata for doc in retrieved]
    assert [span.of(result.prompt) for span in result.chunk_spans] == [doc.page_content for doc in retrieved]
    assert result.answer == output == retrieved[0].page_content
    assert result.question == question and result.proxy
    assert [s.text for s in result.sentences] == [output]
    # The chat messages went to the core as role/content dicts and were rendered with the local chat template.
    (call,) = spy.calls
    assert [m["role"] for m in call["prompt"]] == ["system", "user"]
    assert result.prompt.startswith("<|im_start|>system\nAnswer the question from the context.<|im_end|>\n")


def test_a_string_prompt_llm_is_attributed_with_its_prompt_string(vector_store, spy):
    prompt = PromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}\nAnswer:")
    retriever = vector_store.as_retriever(search_kwargs={"k": 3})
    llm = FakeListLLM(responses=[" The bakery is run by Mira Tollan."])
    chain = {"context": retriever | join_documents, "question": RunnablePassthrough()} | prompt | llm
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(chain, "Who runs the bakery?", handler)

    expected_prompt = prompt.format(context=join_documents(retriever.invoke("Who runs the bakery?")),
                                    question="Who runs the bakery?")
    assert spy.calls[0]["prompt"] == expected_prompt == handler.result(run_id).result.prompt
    assert handler.result(run_id).result.answer == output


def test_documents_of_all_retrievers_and_the_last_llm_call_are_used(vector_store, spy):
    question = "Who runs the bakery?"
    rewrite = (ChatPromptTemplate.from_messages([("human", "Rewrite as a search query: {question}")])
               | FakeListChatModel(responses=["honey bread seller"]) | StrOutputParser())
    retriever = vector_store.as_retriever(search_kwargs={"k": 1})
    # Three retrievers in parallel threads; the third finds the same document as the second.
    searches = RunnableParallel(rewritten=rewrite | retriever, original=retriever, again=retriever)
    context = searches | (lambda found: join_documents(unique(found["rewritten"] + found["original"])))
    chain = {"context": context, "question": RunnablePassthrough()} | PROMPT | QuoteContextChat() | StrOutputParser()
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(chain, question, handler)

    expected = unique(vector_store.similarity_search("honey bread seller", k=1)
                      + vector_store.similarity_search(question, k=1))
    result = handler.result(run_id).result
    assert sorted(c.id for c in result.chunks) == sorted(doc.id for doc in expected)
    (call,) = spy.calls
    assert call["answer"] == output == expected[0].page_content  # the answer, not the rewritten query
    assert "Question: Who runs the bakery?" in call["prompt"][-1]["content"]


def unique(docs):
    return [doc for i, doc in enumerate(docs) if doc not in docs[:i]]


def test_the_outermost_run_owns_documents_and_llm_calls_at_any_depth(vector_store, spy):
    inner = rag_chain(vector_store.as_retriever(search_kwargs={"k": 2}), QuoteContextChat())
    outer = RunnableLambda(str.strip) | RunnableLambda(lambda q: inner.invoke(q)) | RunnableLambda(str.upper)
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(outer, "  Who runs the bakery?  ", handler)

    result = handler.result(run_id).result
    assert result.answer.upper() == output
    assert [c.id for c in result.chunks] == [d.id for d in vector_store.similarity_search("Who runs the bakery?", k=2)]
    assert len(spy.calls) == 1  # the nested chains were not attributed on their own


def test_a_handler_attached_inside_a_chain_takes_its_attachment_point_as_the_run(vector_store, spy):
    handler = CitationCallbackHandler(spy)
    inner = rag_chain(vector_store.as_retriever(search_kwargs={"k": 2}), QuoteContextChat())
    outer = RunnableLambda(str.strip) | inner.with_config(callbacks=[handler])
    output = outer.invoke("  Who runs the bakery?  ")

    assert handler.latest.error is None and handler.latest.result.answer == output


@pytest.mark.parametrize("how", ["batch", "threads"])
def test_concurrent_runs_through_one_handler_keep_their_own_documents(vector_store, spy, how):
    chain = rag_chain(vector_store.as_retriever(search_kwargs={"k": 1}), QuoteContextChat(delay_s=0.05))
    handler = CitationCallbackHandler(spy)
    run_ids = [uuid4() for _ in QUESTIONS]
    configs = [{"callbacks": [handler], "run_id": run_id} for run_id in run_ids]
    if how == "batch":
        outputs = chain.batch(QUESTIONS, config=configs)
    else:
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            outputs = list(pool.map(chain.invoke, QUESTIONS, configs))

    expected = [vector_store.similarity_search(q, k=1)[0] for q in QUESTIONS]
    assert len({doc.id for doc in expected}) >= 3  # runs differ, so mixing them up would show
    for run_id, output, doc in zip(run_ids, outputs, expected):
        result = handler.result(run_id).result
        assert [c.id for c in result.chunks] == [doc.id]
        assert result.answer == output == doc.page_content
    assert handler._runs == {} and handler._root_of == {}  # every finished tree is forgotten


def test_documents_missing_from_the_prompt_are_reported_and_the_output_is_unchanged(vector_store, spy, caplog):
    def shout(docs):  # a chain that rewrites the documents, so their text is not in the prompt
        return join_documents(docs).upper()

    chain = rag_chain(vector_store.as_retriever(search_kwargs={"k": 2}), QuoteContextChat(), format_documents=shout)
    handler = CitationCallbackHandler(spy)
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        output, run_id = invoke(chain, "Who runs the bakery?", handler)

    assert output == chain.invoke("Who runs the bakery?")
    record = handler.result(run_id)
    assert record.result is None
    assert record.error.startswith("ChunkNotFoundError: ")
    assert "does not occur in the prompt" in record.error and "page_content into the prompt unchanged" in record.error
    assert record.to_dict() == {"error": record.error}
    assert record.error in caplog.text


def test_a_failing_attributor_never_breaks_the_chain(vector_store, caplog):
    chain = rag_chain(vector_store.as_retriever(search_kwargs={"k": 2}), QuoteContextChat())
    handler = CitationCallbackHandler(BrokenAttributor())
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        output, run_id = invoke(chain, "Who runs the bakery?", handler)

    assert output == chain.invoke("Who runs the bakery?")
    assert handler.result(run_id).error == "RuntimeError: the attributor broke"
    assert caplog.records[-1].exc_info is not None  # an unexpected error is logged with its traceback


def test_a_run_without_documents_or_without_an_llm_call_says_why(vector_store, spy):
    handler = CitationCallbackHandler(spy)
    no_retriever = ChatPromptTemplate.from_messages([("human", "{question}")]) | FakeListChatModel(responses=["Hi."])
    _, run_id = invoke(no_retriever, {"question": "Hello?"}, handler)
    assert "no retriever returned documents" in handler.result(run_id).error

    vector_store.as_retriever().invoke("bakery", config={"callbacks": [handler]})  # (retrievers ignore "run_id")
    assert "no LLM or chat model call finished" in handler.latest.error
    assert spy.calls == []


def test_a_failing_chain_raises_as_usual_and_leaves_nothing_behind(vector_store, spy):
    def fail(_):
        raise ValueError("the model is down")

    chain = rag_chain(vector_store.as_retriever(), RunnableLambda(fail))
    handler = CitationCallbackHandler(spy)
    with pytest.raises(ValueError, match="the model is down"):
        invoke(chain, "Who runs the bakery?", handler)
    assert handler.latest is None and handler._runs == {} and handler._root_of == {}


def test_results_are_kept_for_the_last_max_results_runs(vector_store, spy):
    chain = rag_chain(vector_store.as_retriever(search_kwargs={"k": 1}), QuoteContextChat(delay_s=0))
    handler = CitationCallbackHandler(spy, max_results=2)
    run_ids = [invoke(chain, q, handler)[1] for q in QUESTIONS[:3]]

    with pytest.raises(KeyError, match="max_results=2"):
        handler.result(run_ids[0])
    assert handler.result(run_ids[2]) is handler.latest
    assert handler.pop(run_ids[1]).run_id == run_ids[1] and handler.pop(run_ids[1]) is None


def test_chunks_keep_the_documents_ids_and_metadata():
    assert [c.id for c in document_chunks(DOCUMENTS)] == ["lighthouse", "bakery", "ferry", "school"]
    assert document_chunks(DOCUMENTS)[0].metadata == {"source": "quenby/lighthouse.txt"}

    by_metadata = [Document("a", metadata={"id": 7}), Document("b", metadata={"source": "b.txt"})]
    assert [c.id for c in document_chunks(by_metadata)] == ["7", "b.txt"]

    same_source = [Document("a", metadata={"source": "x.pdf"}), Document("b", metadata={"source": "x.pdf"})]
    assert [(c.id, c.metadata) for c in document_chunks(same_source)] == [("1", {"source": "x.pdf"}),
                                                                         ("2", {"source": "x.pdf"})]
    assert [c.id for c in document_chunks([Document("a", id="doc-a"), Document("b")])] == ["1", "2"]


def test_the_handler_needs_an_attributor():
    with pytest.raises(TypeError, match=r"Attributor.load\(\)"):
        CitationCallbackHandler("SmolLM2")
    with pytest.raises(ValueError, match="max_results"):
        CitationCallbackHandler(BrokenAttributor(), max_results=0)
