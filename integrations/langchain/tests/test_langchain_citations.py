"""The handler and with_citations on real LCEL chains, offline and fast.

The chains use an in-memory vector store with a deterministic embedding, a chat prompt template and fake
chat models; a real Attributor on a tiny random Llama does the attribution (fast, values meaningless).
Fixtures live here, not in a conftest.py: the core's tests import names from their own "conftest" module,
and a second conftest.py on the test paths would take that name.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
import torch
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseChatModel, FakeListChatModel, FakeListLLM, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from rag_attrib_langchain import CitationCallbackHandler, document_chunks, with_citations
from transformers import LlamaConfig, LlamaForCausalLM

from rag_attrib import Attributor

DOCUMENTS = [
    Document(id="lighthouse", page_content="The Quenby lighthouse was built in 1872 by the engineer Harald Voss.",
             metadata={"source": "quenby/lighthouse.txt"}),
    Document(id="bakery", page_content="Quenby's bakery, run by Mira Tollan, sells a honey bread called tollencake.",
             metadata={"source": "quenby/bakery.txt"}),
    Document(id="ferry", page_content="Quenby is reached by ferry from the mainland port of Ardel.",
             metadata={"source": "quenby/ferry.txt"}),
    Document(id="school", page_content="The Quenby school has forty pupils and one teacher, Ewan Brisk.",
             metadata={"source": "quenby/school.txt"}),
]
QUESTIONS = [
    "Who built the lighthouse?",
    "Who runs the bakery?",
    "How do I get to Quenby?",
    "How many pupils does the school have?",
    "What is tollencake?",
    "Where is Ardel?",
]

STORE = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
STORE.add_documents(DOCUMENTS)

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Answer the question from the context."), ("human", "Context:\n{context}\n\nQuestion: {question}")]
)


def retriever(k: int):
    return STORE.as_retriever(search_kwargs={"k": k})


def rag_chain(chat_model: Runnable | None = None, *, k: int = 2, format_documents=None, context: Runnable | None = None,
              parse: bool = True) -> Runnable:
    """The textbook LCEL RAG chain: retrieve ``k`` documents, join them into the prompt, chat model, text.

    ``format_documents`` replaces the joining, ``context`` the whole retrieval step; ``parse=False`` returns
    the chat model's message. The chat model defaults to ``QuoteContextChat``.
    """
    context = context or retriever(k) | (format_documents or join)
    chain = {"context": context, "question": RunnablePassthrough()} | PROMPT | (chat_model or QuoteContextChat())
    return chain | StrOutputParser() if parse else chain


def join(docs: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


def unique(docs: list[Document]) -> list[Document]:
    return [doc for i, doc in enumerate(docs) if doc not in docs[:i]]


def invoke(chain, question, handler):
    """Invoke with the handler and a known root run id; returns (output, run_id)."""
    run_id = uuid4()
    return chain.invoke(question, config={"callbacks": [handler], "run_id": run_id}), run_id


def cited_ids(citations: dict) -> list[str]:
    return [chunk["id"] for chunk in citations["chunks"]]


class QuoteContextChat(BaseChatModel):
    """Answers with the first line of the context in its prompt: a single-source answer that depends on the
    prompt, so concurrent runs are told apart. It pauses a little so that concurrent runs overlap."""

    delay_s: float = 0.02

    @property
    def _llm_type(self) -> str:
        return "quote-context"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        time.sleep(self.delay_s)
        first_line = messages[-1].text.split("Context:\n", 1)[1].splitlines()[0]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=first_line))])


class SpyAttributor:
    """A real Attributor that also records what it was asked to attribute."""

    def __init__(self, attributor: Attributor) -> None:
        self.attributor, self.calls, self._lock = attributor, [], threading.Lock()

    def attribute_prompt(self, prompt, chunks, answer=None, *, question=None, target=None):
        with self._lock:
            self.calls.append({"prompt": prompt, "chunks": list(chunks), "answer": answer, "question": question})
        return self.attributor.attribute_prompt(prompt, chunks, answer, question=question, target=target)


class BrokenAttributor:
    """Fails the way a bug would: not with one of rag_attrib's own errors."""

    def attribute_prompt(self, prompt, chunks, answer=None, *, question=None, target=None):
        raise RuntimeError("the attributor broke")


CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def byte_tokenizer():
    """A fast tokenizer with one token per byte and a ChatML template, built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", bos_token="<|im_start|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def tiny_attributor() -> Attributor:
    tokenizer = byte_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096)
    return Attributor(LlamaForCausalLM(config).eval(), tokenizer, keep_token_relevance=False)


@pytest.fixture
def spy(tiny_attributor) -> SpyAttributor:
    return SpyAttributor(tiny_attributor)


# CitationCallbackHandler


def test_a_chat_chain_is_attributed_to_the_documents_it_retrieved(spy):
    question = "Who runs the bakery?"
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(rag_chain(k=2), question, handler)

    retrieved = STORE.similarity_search(question, k=2)
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


def test_a_string_prompt_llm_is_attributed_with_its_prompt_string(spy):
    prompt = PromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}\nAnswer:")
    llm = FakeListLLM(responses=[" The bakery is run by Mira Tollan."])
    chain = {"context": retriever(3) | join, "question": RunnablePassthrough()} | prompt | llm
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(chain, "Who runs the bakery?", handler)

    expected_prompt = prompt.format(context=join(retriever(3).invoke("Who runs the bakery?")),
                                    question="Who runs the bakery?")
    assert spy.calls[0]["prompt"] == expected_prompt == handler.result(run_id).result.prompt
    assert handler.result(run_id).result.answer == output


def test_documents_of_all_retrievers_and_the_last_llm_call_are_used(spy):
    question = "Who runs the bakery?"
    rewrite = (ChatPromptTemplate.from_messages([("human", "Rewrite as a search query: {question}")])
               | FakeListChatModel(responses=["honey bread seller"]) | StrOutputParser())
    # Three retrievers in parallel threads; the third finds the same document as the second.
    searches = RunnableParallel(rewritten=rewrite | retriever(1), original=retriever(1), again=retriever(1))
    chain = rag_chain(context=searches | (lambda found: join(unique(found["rewritten"] + found["original"]))))
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(chain, question, handler)

    expected = unique(STORE.similarity_search("honey bread seller", k=1)
                      + STORE.similarity_search(question, k=1))
    result = handler.result(run_id).result
    assert sorted(c.id for c in result.chunks) == sorted(doc.id for doc in expected)
    (call,) = spy.calls
    assert call["answer"] == output == expected[0].page_content  # the answer, not the rewritten query
    assert "Question: Who runs the bakery?" in call["prompt"][-1]["content"]


def test_a_streamed_answer_is_attributed_when_the_stream_ends(spy):
    answer = "The bakery is run by Mira Tollan. It sells bread."
    handler = CitationCallbackHandler(spy)
    streaming_chat = GenericFakeChatModel(messages=iter([AIMessage(content=answer)] * 2))
    pieces = list(rag_chain(streaming_chat).stream("Who runs the bakery?", config={"callbacks": [handler]}))

    assert len(pieces) > 1 and "".join(pieces) == answer == handler.latest.result.answer
    assert [s.text for s in handler.latest.result.sentences] == ["The bakery is run by Mira Tollan.", "It sells bread."]
    *chunks, record = with_citations(rag_chain(streaming_chat), spy).stream("Who runs the bakery?")
    assert "".join(c for c in chunks if isinstance(c, str)) == answer and len(record.result.sentences) == 2


def test_the_outermost_run_owns_documents_and_llm_calls_at_any_depth(spy):
    inner = rag_chain(k=2)
    outer = RunnableLambda(str.strip) | RunnableLambda(lambda q: inner.invoke(q)) | RunnableLambda(str.upper)
    handler = CitationCallbackHandler(spy)
    output, run_id = invoke(outer, "  Who runs the bakery?  ", handler)

    result = handler.result(run_id).result
    assert result.answer.upper() == output
    assert [c.id for c in result.chunks] == [d.id for d in STORE.similarity_search("Who runs the bakery?", k=2)]
    assert len(spy.calls) == 1  # the nested chains were not attributed on their own


def test_a_handler_attached_inside_a_chain_takes_its_attachment_point_as_the_run(spy):
    handler = CitationCallbackHandler(spy)
    inner = rag_chain(k=2)
    outer = RunnableLambda(str.strip) | inner.with_config(callbacks=[handler])
    output = outer.invoke("  Who runs the bakery?  ")

    assert handler.latest.error is None and handler.latest.result.answer == output


@pytest.mark.parametrize("how", ["batch", "threads"])
def test_concurrent_runs_through_one_handler_keep_their_own_documents(spy, how):
    chain = rag_chain(k=1)
    handler = CitationCallbackHandler(spy)
    run_ids = [uuid4() for _ in QUESTIONS]
    configs = [{"callbacks": [handler], "run_id": run_id} for run_id in run_ids]
    if how == "batch":
        outputs = chain.batch(QUESTIONS, config=configs)
    else:
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            outputs = list(pool.map(chain.invoke, QUESTIONS, configs))

    expected = [STORE.similarity_search(q, k=1)[0] for q in QUESTIONS]
    assert len({doc.id for doc in expected}) >= 3  # runs differ, so mixing them up would show
    for run_id, output, doc in zip(run_ids, outputs, expected, strict=True):
        result = handler.result(run_id).result
        assert [c.id for c in result.chunks] == [doc.id]
        assert result.answer == output == doc.page_content
    assert handler._runs == {} and handler._root_of == {}  # every finished tree is forgotten


def test_documents_missing_from_the_prompt_are_reported_and_the_output_is_unchanged(spy, caplog):
    def shout(docs):  # a chain that rewrites the documents, so their text is not in the prompt
        return join(docs).upper()

    chain = rag_chain(format_documents=shout)
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


def test_a_failing_attributor_never_breaks_the_chain(caplog):
    chain = rag_chain()
    handler = CitationCallbackHandler(BrokenAttributor())
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        output, run_id = invoke(chain, "Who runs the bakery?", handler)

    assert output == chain.invoke("Who runs the bakery?")
    assert handler.result(run_id).error == "RuntimeError: the attributor broke"
    assert caplog.records[-1].exc_info is not None  # an unexpected error is logged with its traceback


def test_a_run_without_documents_or_without_an_llm_call_says_why(spy):
    handler = CitationCallbackHandler(spy)
    no_retriever = ChatPromptTemplate.from_messages([("human", "{question}")]) | FakeListChatModel(responses=["Hi."])
    _, run_id = invoke(no_retriever, {"question": "Hello?"}, handler)
    assert "no retriever returned documents" in handler.result(run_id).error

    retriever(4).invoke("bakery", config={"callbacks": [handler]})  # (retrievers ignore "run_id")
    assert "no LLM or chat model call finished" in handler.latest.error
    assert spy.calls == []


def test_a_failing_chain_raises_as_usual_and_leaves_nothing_behind(spy):
    def fail(_):
        raise ValueError("the model is down")

    chain = rag_chain(RunnableLambda(fail))
    handler = CitationCallbackHandler(spy)
    with pytest.raises(ValueError, match="the model is down"):
        invoke(chain, "Who runs the bakery?", handler)
    assert handler.latest is None and handler._runs == {} and handler._root_of == {}


def test_results_are_kept_for_the_last_max_results_runs(spy):
    chain = rag_chain(k=1)
    handler = CitationCallbackHandler(spy, max_results=2)
    run_ids = [invoke(chain, q, handler)[1] for q in QUESTIONS[:3]]

    with pytest.raises(KeyError, match="max_results=2"):
        handler.result(run_ids[0])
    assert handler.result(run_ids[2]) is handler.latest
    assert handler.pop(run_ids[1]).run_id == run_ids[1] and handler.pop(run_ids[1]) is None


def test_chunks_keep_the_documents_ids_and_metadata():
    by_id = [Document("a", id="doc-a", metadata={"id": "x", "source": "a.txt"}), Document("b", id="doc-b")]
    assert [(c.id, c.text, c.metadata) for c in document_chunks(by_id)] == [
        ("doc-a", "a", {"id": "x", "source": "a.txt"}), ("doc-b", "b", {})]

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


# with_citations


def test_a_string_output_comes_back_as_output_plus_citations(spy):
    chain = rag_chain(k=1)
    out = with_citations(chain, spy).invoke("Who runs the bakery?")

    (doc,) = retriever(1).invoke("Who runs the bakery?")
    assert set(out) == {"output", "citations"}
    assert out["output"] == chain.invoke("Who runs the bakery?") == doc.page_content
    citations = out["citations"]
    assert cited_ids(citations) == [doc.id] and citations["chunks"][0]["metadata"] == doc.metadata
    assert citations["answer"] == out["output"] and citations["proxy"] is True
    assert [s["text"] for s in citations["sentences"]] == [out["output"]]
    assert "token_relevance" not in citations


def test_a_dict_output_gets_a_citations_entry_and_keeps_the_rest(spy):
    chain = RunnableParallel(question=RunnablePassthrough(), answer=rag_chain(parse=False))
    out = with_citations(chain, spy).invoke("Who runs the bakery?")

    assert set(out) == {"question", "answer", "citations"}
    assert out["question"] == "Who runs the bakery?" and isinstance(out["answer"], AIMessage)
    assert out["citations"]["answer"] == out["answer"].content


def test_a_message_output_comes_back_as_output_plus_citations(spy):
    out = with_citations(rag_chain(parse=False), spy).invoke("Who runs the bakery?")

    assert isinstance(out["output"], AIMessage) and out["citations"]["answer"] == out["output"].content


def test_a_failed_attribution_leaves_the_output_unchanged_and_says_why():
    chain = rag_chain()
    out = with_citations(chain, BrokenAttributor()).invoke("Who runs the bakery?")

    assert out == {"output": chain.invoke("Who runs the bakery?"),
                   "citations": {"error": "RuntimeError: the attributor broke"}}


def test_it_composes_in_lcel(spy):
    pipeline = RunnableLambda(str.strip) | with_citations(rag_chain(k=1), spy) | (
        lambda out: (out["output"], cited_ids(out["citations"]))
    )
    output, ids = pipeline.invoke("  Who runs the bakery?  ")

    (doc,) = retriever(1).invoke("Who runs the bakery?")
    assert (output, ids) == (doc.page_content, [doc.id])


def expected_ids():
    return [[doc.id for doc in retriever(1).invoke(q)] for q in QUESTIONS]


def test_batch_keeps_each_runs_citations_with_its_output(spy):
    cited = with_citations(rag_chain(k=1), spy)
    outs = cited.batch(QUESTIONS)

    assert [cited_ids(out["citations"]) for out in outs] == expected_ids()
    assert all(out["citations"]["answer"] == out["output"] for out in outs)
    assert cited.handler.latest is not None and cited.handler.pop(cited.handler.latest.run_id) is None


def test_async_invoke_and_batch(spy):
    cited = with_citations(rag_chain(k=1), spy)

    async def run():
        return await cited.ainvoke(QUESTIONS[0]), await cited.abatch(QUESTIONS)

    one, many = asyncio.run(run())
    assert cited_ids(one["citations"]) == expected_ids()[0]
    assert [cited_ids(out["citations"]) for out in many] == expected_ids()
    assert all(out["citations"]["answer"] == out["output"] for out in many)


def test_an_existing_citations_entry_is_replaced_with_a_warning(spy, caplog):
    chain = rag_chain() | (lambda answer: {"answer": answer, "citations": "mine"})
    with caplog.at_level(logging.WARNING, logger="rag_attrib_langchain"):
        out = with_citations(chain, spy).invoke("Who runs the bakery?")
    assert "sentences" in out["citations"] and "already has a 'citations' entry" in caplog.text

    out = with_citations(chain, spy, key="sources").invoke("Who runs the bakery?")
    assert out["citations"] == "mine" and "sentences" in out["sources"]


def test_the_input_schema_is_the_chains(spy):
    chain = rag_chain()
    cited = with_citations(chain, spy)
    assert cited.get_input_schema().model_json_schema() == chain.get_input_schema().model_json_schema()
    with pytest.raises(TypeError, match="must be a LangChain Runnable"):
        with_citations(lambda q: q, spy)


def test_evidence_carries_source_offsets_from_the_splitters_start_index(tiny_attributor):
    # RecursiveCharacterTextSplitter(add_start_index=True) writes metadata["start_index"]: where the chunk starts
    source = "Notes on Quenby. " + DOCUMENTS[0].page_content + " The end."
    doc = Document(id="lh", page_content=DOCUMENTS[0].page_content,
                   metadata={"source": "quenby.txt", "start_index": source.index(DOCUMENTS[0].page_content)})
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents([doc])
    chain = rag_chain(context=store.as_retriever(search_kwargs={"k": 1}) | join)
    attributor = Attributor(tiny_attributor.model, tiny_attributor.tokenizer, evidence="all",
                            keep_token_relevance=False)
    out = with_citations(chain, attributor).invoke("Who built the lighthouse?")
    (citation,) = out["citations"]["sentences"][0]["citations"]
    assert citation["evidence"]
    for evidence in citation["evidence"]:
        (a, b), (sa, sb) = evidence["span"], evidence["source_span"]
        assert source[sa:sb] == doc.page_content[a:b] and b > a
    assert out["citations"]["chunks"][0]["metadata"]["source"] == "quenby.txt"  # the document it came from
