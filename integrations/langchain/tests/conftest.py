"""Offline LCEL RAG chains for the tests: an in-memory vector store with a deterministic embedding, a chat
prompt template, fake chat models, and a real Attributor on a tiny random Llama (fast; values meaningless)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
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

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Answer the question from the context."), ("human", "Context:\n{context}\n\nQuestion: {question}")]
)


def join_documents(docs: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


@pytest.fixture(scope="session")
def vector_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents(DOCUMENTS)
    return store


def rag_chain(retriever: Runnable, chat_model: Runnable, format_documents=join_documents) -> Runnable:
    """The textbook LCEL RAG chain: retrieve, format, prompt, chat model, string output."""
    context = retriever | format_documents
    return {"context": context, "question": RunnablePassthrough()} | PROMPT | chat_model | StrOutputParser()


class QuoteContextChat(BaseChatModel):
    """Answers with the first line of the context in its prompt: a single-source answer that depends on the
    prompt, so concurrent runs are told apart. It pauses a little so that concurrent runs overlap."""

    delay_s: float = 0.01

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
