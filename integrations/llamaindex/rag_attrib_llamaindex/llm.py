"""``LocalLLM``: an Attributor's local model as a LlamaIndex LLM, for fully local (and offline) RAG."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback


class LocalLLM(CustomLLM):
    """Answers with the local model of a rag_attrib Attributor: greedy, up to its ``max_new_tokens``.

    For a pipeline with no API model, and for examples and tests that must run offline. Behind an API
    model instead, the same Attributor scores that model's answers; nothing else changes.
    """

    attributor: Any = Field(exclude=True, description="The rag_attrib.Attributor whose model answers.")

    def __init__(self, attributor: Any, **kwargs: Any) -> None:
        if not callable(getattr(attributor, "answer", None)):
            raise TypeError(
                f"LocalLLM needs a rag_attrib.Attributor, got {type(attributor).__name__}; create one with "
                "rag_attrib.Attributor.load()"
            )
        super().__init__(attributor=attributor, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "RagAttribLocalLLM"

    @property
    def metadata(self) -> LLMMetadata:
        window = getattr(self.attributor.model.config, "max_position_embeddings", None) or 2048
        return LLMMetadata(context_window=window, num_output=self.attributor.max_new_tokens, is_chat_model=True,
                           model_name=self.attributor.model_name)

    def _answer(self, messages: Sequence[dict[str, str]]) -> str:
        """Rendered with the model's chat template, as the attribution renders the same messages."""
        return self.attributor.answer(list(messages))  # waits while another thread attributes on the model

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        answer = self._answer([{"role": m.role.value, "content": m.content or ""} for m in messages])
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=answer))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._answer([{"role": "user", "content": prompt}]))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = self._answer([{"role": "user", "content": prompt}])
        yield CompletionResponse(text=text, delta=text)
