"""The default RAG prompt, rendered through the model's chat template, recording where each chunk landed.

Chunk spans are computed while rendering (the offset of each chunk inside the user message plus the
offset of that message in the rendered prompt), never guessed afterwards; only when a chat template
rewrites message text do we fall back to searching for the chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase

from .text import locate_chunks
from .types import Chunk, Span

# Chosen by trying four system prompts on SmolLM2-135M: longer instructions (numbered sources, "one to three
# sentences") made it copy the first source or list all of them; this one keeps it on the question.
DEFAULT_SYSTEM = "Answer the user's question in one sentence, using the sources."


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact prompt text the model sees, where each chunk sits in it, and which parts are content.

    ``content_spans`` are the message texts (system, user); everything else is chat-template scaffolding
    that never counts as context when shares are computed.
    """

    text: str
    chunk_spans: tuple[Span, ...]
    content_spans: tuple[Span, ...]


def user_message(question: str, chunks: Sequence[Chunk]) -> tuple[str, list[Span]]:
    """The user turn: numbered sources, then the question. Returns the text and each chunk's span in it."""
    parts, spans, pos = [], [], 0
    for n, chunk in enumerate(chunks, start=1):
        label = f"[{n}] "
        spans.append(Span(pos + len(label), pos + len(label) + len(chunk.text)))
        parts.append(label + chunk.text + "\n\n")
        pos += len(parts[-1])
    return "".join(parts) + f"Question: {question}", spans


def render_rag_prompt(
    tokenizer: PreTrainedTokenizerBase, question: str, chunks: Sequence[Chunk], system: str | None = DEFAULT_SYSTEM
) -> RenderedPrompt:
    user, spans_in_user = user_message(question, chunks)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    rendered = render_messages(tokenizer, messages)
    user_span = rendered.content_spans[-1]
    if user_span.of(rendered.text) == user:
        chunk_spans = tuple(Span(user_span.start + s.start, user_span.start + s.end) for s in spans_in_user)
    else:  # the template rewrote the message (e.g. trimmed it): find the chunks instead
        chunk_spans = tuple(locate_chunks(rendered.text, chunks))
    return RenderedPrompt(rendered.text, chunk_spans, rendered.content_spans)


def render_messages(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Mapping[str, Any]]) -> RenderedPrompt:
    """Render chat messages for generation; without a chat template, a plain ``Role: text`` transcript."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    else:
        text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages) + "Assistant: "
    content_spans, pos = [], 0
    for m in messages:
        content = str(m["content"])
        start = text.find(content, pos)
        if start < 0:  # rewritten by the template: the whole remaining text counts as content
            content_spans.append(Span(pos, len(text)))
            continue
        content_spans.append(Span(start, start + len(content)))
        pos = start + len(content)
    return RenderedPrompt(text, (), tuple(content_spans))
