"""A complete LangChain RAG chain whose answers come back with sentence-level citations, fully offline.

    .venv/bin/python examples/langchain_rag.py ["your question about Quenby"]

The chat model is the default local model (Qwen2.5-Coder-0.5B-Instruct), wrapped as a LangChain chat model so the example needs no API key.
Put any chat model in its place (ChatOpenAI, ChatAnthropic, ...): the local model then scores that model's
answer by teacher forcing (proxy attribution) and the citations work the same.
Needs: pip install -e integrations/langchain (it brings langchain-core).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from rag_attrib_langchain import with_citations

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

PROMPT = ChatPromptTemplate.from_messages([
    ("system", "Answer the question in one sentence, using only the context."),
    ("human", "Context:\n{context}\n\nQuestion: {question}"),
])


class LocalChatModel(BaseChatModel):
    """A local Hugging Face causal LM as a LangChain chat model: its own chat template, greedy decoding."""

    model: Any
    tokenizer: Any
    max_new_tokens: int = 60

    @property
    def _llm_type(self) -> str:
        return "local-transformers"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        inputs = self.tokenizer.apply_chat_template(
            convert_to_openai_messages(messages), add_generation_prompt=True, return_dict=True, return_tensors="pt"
        ).to(self.model.device)
        with torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         pad_token_id=self.tokenizer.eos_token_id)
        text = self.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def build_chain(chat_model: BaseChatModel) -> Runnable:
    """Retrieve, put the documents into the prompt verbatim (so they can be cited), answer, parse to text."""
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=64))  # a stand-in embedding, to stay offline
    store.add_documents(DOCUMENTS)
    # The stand-in embedding ranks documents arbitrarily, so retrieve them all; with a real one, use a small k.
    retriever = store.as_retriever(search_kwargs={"k": len(DOCUMENTS)})
    context = retriever | (lambda docs: "\n\n".join(doc.page_content for doc in docs))
    return {"context": context, "question": RunnablePassthrough()} | PROMPT | chat_model | StrOutputParser()


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "Where does the ferry to Quenby leave from?"
    attributor = Attributor.load()  # the default, Qwen2.5-Coder-0.5B-Instruct ("smollm2": faster)
    chat_model = LocalChatModel(model=attributor.model, tokenizer=attributor.tokenizer)
    chain = with_citations(build_chain(chat_model), attributor)  # the one line that adds citations

    out = chain.invoke(question)
    print(f"Question: {question}\nAnswer:   {out['output']}\n")
    citations = out["citations"]
    if "error" in citations:
        print(f"No citations: {citations['error']}")
        return
    sources = {chunk["id"]: chunk["metadata"]["source"] for chunk in citations["chunks"]}
    for n, sentence in enumerate(citations["sentences"], start=1):
        print(f"{n}. {sentence['text']}")
        for citation in sentence["citations"]:
            if citation["chunk_id"] in sentence["cited"]:
                print(f"   cites {sources[citation['chunk_id']]} ({citation['share']:.0%} of the relevance)")


if __name__ == "__main__":
    main()
