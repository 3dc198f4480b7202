"""Offline LlamaIndex stand-ins for the tests: a bag-of-words embedding, a scripted LLM and a stand-in
Attributor. A module of its own (not conftest) so tests can import it by a name no other folder shares."""


from __future__ import annotations

import asyncio
import re
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from rag_attrib.stream import settled_sentences
from rag_attrib.text import locate_chunks, split_sentences
from rag_attrib.types import AttributionResult, Citation, SentenceAttribution, as_chunks

QUENBY = {
    "lighthouse": "The Quenby lighthouse was built in 1872 by the engineer Harald Voss.",
    "bakery": "Quenby's bakery, run by Mira Tollan, sells a honey bread called tollencake.",
    "ferry": "Quenby is reached by ferry from the mainland port of Ardel, six times a day.",
    "school": "The Quenby school has forty pupils and a single teacher, Odile Brask.",
}


class BagOfWordsEmbedding(BaseEmbedding):
    """Deterministic embedding: hashed word counts, so similar texts get distinct, meaningful scores."""

    dim: int = 256

    @classmethod
    def class_name(cls) -> str:
        return "BagOfWordsEmbedding"

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in re.findall(r"\w+", text.lower()):
            vector[zlib.crc32(word.encode()) % self.dim] += 1.0
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        return [v / norm for v in vector]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)


class ScriptedLLM(CustomLLM):
    """Answers each known question with its fixed answer, found by the question's text in the prompt.

    ``delay`` makes calls of concurrent queries overlap (``acomplete`` awaits it, so asyncio tasks interleave).
    """

    answers: dict[str, str]
    delay: float = 0.0
    chat_model: bool = False
    context_window: int = 4096

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.context_window, num_output=64, is_chat_model=self.chat_model,
                           model_name="scripted")

    def _answer(self, prompt: str) -> CompletionResponse:
        for question, answer in self.answers.items():
            if question in prompt:
                return CompletionResponse(text=answer)
        # Not a ValueError: LlamaIndex's refine swallows those (it takes them for structured-output failures).
        raise LookupError(f"no scripted answer for this prompt: {prompt[-200:]!r}")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        time.sleep(self.delay)
        return self._answer(prompt)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        await asyncio.sleep(self.delay)
        return self._answer(prompt)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        words = self._answer(prompt).text.split(" ")
        for i in range(len(words)):
            yield CompletionResponse(text=" ".join(words[: i + 1]), delta=(" " if i else "") + words[i])


class OverlapAttributor:
    """Stand-in for rag_attrib.Attributor: a sentence cites the chunks sharing its words (4+ letters).

    It checks its input as the real one does (chunk ids, chunks found in the prompt) and records each call.
    """

    model_name = "word-overlap"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def attribute_prompt(self, prompt: str | Sequence[dict], chunks: Any, answer: str | None = None, *,
                         question: str | None = None, target: str | None = None) -> AttributionResult:
        with self._lock:
            self.calls.append({"prompt": prompt, "chunks": as_chunks(chunks), "answer": answer, "question": question})
        return self._result(prompt, chunks, answer, question)

    def open_stream(self, question: str | None = None, chunks: Any = (), *, prompt: str | Sequence[dict],
                    target: str | None = None) -> OverlapStream:
        self._result(prompt, chunks, "", question)  # refuses chunks not in the prompt now, as the real one does
        return OverlapStream(self, prompt, chunks, question)

    def _result(self, prompt: str | Sequence[dict], chunks: Any, answer: str, question: str | None
                ) -> AttributionResult:
        chunks = as_chunks(chunks)
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        spans = locate_chunks(text, chunks)
        sentences = []
        for span in split_sentences(answer):
            words = _words(span.of(answer))
            overlap = {c.id: len(words & _words(c.text)) for c in chunks}
            total = sum(overlap.values())
            citations = sorted((Citation(i, float(n), n / total if total else 0.0) for i, n in overlap.items()),
                               key=lambda c: -c.score)
            cited = tuple(c.chunk_id for c in citations if c.share >= 0.15)
            sentences.append(SentenceAttribution(span.of(answer), span, tuple(citations), cited,
                                                 grounding=1.0 if total else 0.0, target_value=0.0))
        return AttributionResult(tuple(sentences), chunks, tuple(spans), text, answer, question, self.model_name,
                                 "token", answer is not None, 0.15)


class OverlapStream:
    """Stand-in for rag_attrib's AnswerStream: each sentence settled by the real rule, cited by word overlap."""

    def __init__(self, attributor: OverlapAttributor, prompt: str | Sequence[dict], chunks: Any,
                 question: str | None) -> None:
        self.attributor, self.prompt, self.chunks, self.question = attributor, prompt, chunks, question
        self.text, self.sentences = "", []

    def feed(self, piece: str) -> list[SentenceAttribution]:
        self.text += piece
        settled = self.attributor._result(self.prompt, self.chunks, self.text, self.question).sentences[
            len(self.sentences) : settled_sentences(self.text)]
        self.sentences += settled
        return list(settled)

    def finish(self) -> AttributionResult:
        return self.attributor.attribute_prompt(self.prompt, self.chunks, self.text, question=self.question)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) >= 4}
