"""Stream a LangChain RAG answer to the terminal, each sentence's citations printed as soon as the sentence ends.

    .venv/bin/python examples/langchain_stream.py ["your question about Quenby"]
    .venv/bin/python examples/langchain_stream.py --fake    # a fake streaming chat model writes the answer

The chain is examples/langchain_rag.py's; here a local model (SmolLM2-135M-Instruct, offline) writes the answer
token by token as a LangChain chat model, and ``with_citations(chain, attributor).stream(...)`` yields the chain's
text chunks with a ``SentenceCitations`` after the chunk that settles each sentence (two words into the next
one), then the run's ``RunCitations``. Put any streaming chat model in its place (ChatOpenAI, ...): the local
model then scores its answer as it arrives (proxy attribution).
Needs: pip install -e integrations/langchain (it brings langchain-core).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from rag_attrib_langchain import RunCitations, SentenceCitations, with_citations

from rag_attrib import Attributor
from rag_attrib.lrp import model_lock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from langchain_rag import DOCUMENTS, LocalChatModel, build_chain  # the non-streaming example's

FAKE_ANSWER = "The ferry to Quenby leaves from Ardel. Mira Tollan runs the bakery, which sells tollencake."


class StreamingLocalChatModel(LocalChatModel):
    """A local Hugging Face causal LM as a streaming LangChain chat model: greedy, one token at a time."""

    @property
    def _llm_type(self) -> str:
        return "local-transformers-streaming"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        ids = self.tokenizer.apply_chat_template(convert_to_openai_messages(messages), add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)["input_ids"]
        cache, tokens, given = None, [], ""
        for _ in range(self.max_new_tokens):
            # between tokens, the attribution of the text so far runs on the same model: take turns with it
            with torch.no_grad(), model_lock(self.model):
                out = self.model(input_ids=ids.to(self.model.device), past_key_values=cache, use_cache=True)
            cache, token = out.past_key_values, int(out.logits[0, -1].argmax())
            if token == self.tokenizer.eos_token_id:
                break
            tokens.append(token)
            ids = torch.tensor([[token]])
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
            if text.endswith("\ufffd") or not text.startswith(given):
                continue  # part of a character: wait for the rest
            delta, given = text[len(given):], text
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
            if run_manager is not None:
                run_manager.on_llm_new_token(delta, chunk=chunk)
            yield chunk


def stream_with_citations(chain: Runnable, attributor: Attributor, question: str,
                          write: Callable[[str], Any] = sys.stdout.write) -> RunCitations:
    """Write the answer as it streams, and under each sentence, once it is settled, the documents it cites."""
    sources = {doc.id: doc.metadata["source"] for doc in DOCUMENTS}
    write(f"Question: {question}\nAnswer (streamed, each sentence's sources under it once it is settled):\n")
    for item in with_citations(chain, attributor).stream(question):
        if isinstance(item, SentenceCitations):
            cited = ", ".join(f"{sources.get(c.chunk_id, c.chunk_id)} ({c.share:.0%})"
                              for c in item.sentence.citations if c.chunk_id in item.sentence.cited)
            write(f"\n   [{item.index + 1}] {item.sentence.text!r} cites {cited or 'no document'}\n")
        elif isinstance(item, RunCitations):
            write("" if item.error is None else f"\nNo citations: {item.error}\n")
            return item
        else:
            write(item)
        sys.stdout.flush()
    raise RuntimeError("the stream ended without the run's citations")


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--fake"]
    question = args[0] if args else "Where does the ferry to Quenby leave from?"
    attributor = Attributor.load("smollm2")
    if "--fake" in sys.argv:
        chat_model: BaseChatModel = GenericFakeChatModel(messages=iter([AIMessage(content=FAKE_ANSWER)]))
    else:
        chat_model = StreamingLocalChatModel(model=attributor.model, tokenizer=attributor.tokenizer)
    stream_with_citations(build_chain(chat_model), attributor, question)


if __name__ == "__main__":
    main()
