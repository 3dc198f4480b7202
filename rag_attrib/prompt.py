"""The prompt: rendered (with each chunk's place recorded) and encoded (the one step from text to tokens).

Chunk spans are computed while rendering (the offset of each chunk inside the user message plus the
offset of that message in the rendered prompt), never guessed afterwards; only when a chat template
rewrites message text do we fall back to searching for the chunks.

``encode`` is THE step from a rendered prompt and an answer to token ids, offsets, chunk and sentence token
ranges and the content mask: the attribution, check-model, every evaluation method and the integrations
use it, so they all see the same tokens (one start-token policy: ``needs_special_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from .text import char_to_token_spans, locate_chunks, split_sentences
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


def render_given_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str | Sequence[Mapping[str, Any]]
                        ) -> RenderedPrompt:
    """A ``prompt`` someone else built: a string is used as is (all of it content), chat messages are rendered
    with ``tokenizer``'s chat template (``render_messages``)."""
    if isinstance(prompt, str):
        return RenderedPrompt(prompt, (), (Span(0, len(prompt)),))
    return render_messages(tokenizer, prompt)


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


def needs_special_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> bool:
    """The start-token policy: add the tokenizer's special tokens (its BOS) unless the text already starts with
    one. A chat template writes its own; a plain transcript needs the tokenizer's (Gemma needs a BOS)."""
    return not any(t and text.startswith(t) for t in tokenizer.all_special_tokens)


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of a rendered prompt, under the one start-token policy."""
    enc = tokenizer(text, add_special_tokens=needs_special_tokens(tokenizer, text), return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


@dataclass(frozen=True)
class Encoded:
    """Prompt + answer as tokens, with the token ranges the engine and the aggregation need.

    Token ranges are absolute (indices into ``input_ids``), half-open. ``content`` marks the prompt tokens
    that count as context (inside a message text; not special, not template, not the first token).
    """

    prompt: RenderedPrompt
    answer: str
    prompt_ids: list[int]
    prompt_offsets: list[tuple[int, int]]
    answer_ids: list[int]
    answer_offsets: list[tuple[int, int]]
    sentence_spans: list[Span]  # character spans in ``answer``
    sentence_tokens: list[tuple[int, int]]
    chunk_tokens: list[tuple[int, int]]  # in the order of ``prompt.chunk_spans``
    content: Tensor
    skip: tuple[int, ...] = ()  # absolute indices of answer tokens no sentence's target counts (citation markers)

    @property
    def answer_start(self) -> int:
        return len(self.prompt_ids)

    @property
    def seq_len(self) -> int:
        return len(self.prompt_ids) + len(self.answer_ids)

    @property
    def input_ids(self) -> Tensor:
        return torch.tensor(self.prompt_ids + self.answer_ids, dtype=torch.long)

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_tokens)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_tokens)

    def target_tokens(self, sentence: int) -> int:
        """How many tokens sentence ``sentence``'s target sums over (its tokens, less the skipped ones)."""
        a, b = self.sentence_tokens[sentence]
        return b - a - sum(a <= t < b for t in self.skip)

    def relative_sentences(self) -> list[tuple[int, int]]:
        """Sentence token ranges relative to the answer's first token."""
        return [(a - self.answer_start, b - self.answer_start) for a, b in self.sentence_tokens]

    def relative_skip(self) -> list[int]:
        """``skip`` relative to the answer's first token."""
        return [t - self.answer_start for t in self.skip]

    def context_mask(self, sentence: int) -> Tensor:
        """Tokens that count as context for sentence ``sentence``: the prompt's content and the answer before it."""
        mask = torch.zeros(self.seq_len, dtype=torch.bool)
        mask[: self.answer_start] = self.content
        mask[self.answer_start : self.sentence_tokens[sentence][0]] = True
        return mask


def encode(
    tokenizer: PreTrainedTokenizerBase,
    prompt: RenderedPrompt,
    answer: str,
    sentences: Sequence[Span] | None = None,
    skip: Sequence[Span] = (),
) -> Encoded:
    """Encode a rendered prompt and an answer; ``sentences`` (character spans into ``answer``) replaces the
    built-in sentence split. The answer tokens that overlap a ``skip`` span (its citation markers) count in no
    sentence's target, unless they are all the sentence has; a token that merges a marker with punctuation
    (``"]."``) goes with the marker."""
    prompt_ids, prompt_offsets = encode_prompt(tokenizer, prompt.text)
    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    answer_ids, answer_offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    start = len(prompt_ids)
    spans = split_sentences(answer, skip) if sentences is None else list(sentences)
    sentence_tokens = [(start + a, start + b) for a, b in char_to_token_spans(answer, answer_offsets, spans)]
    chunk_tokens = _token_spans_any_order(prompt.text, prompt_offsets, prompt.chunk_spans)
    content = content_mask(prompt_ids, prompt_offsets, prompt.content_spans, set(tokenizer.all_special_ids))
    skipped = {start + i for i, (s, e) in enumerate(answer_offsets) if any(s < m.end and m.start < e for m in skip)}
    for a, b in sentence_tokens:
        if set(range(a, b)) <= skipped:  # a sentence of markers only keeps them: its target is not empty
            skipped -= set(range(a, b))
    return Encoded(prompt, answer, prompt_ids, prompt_offsets, answer_ids, answer_offsets, spans, sentence_tokens,
                   chunk_tokens, content, tuple(sorted(skipped)))


def content_mask(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], content_spans: Sequence[Span], special_ids: set[int]
) -> Tensor:
    """Prompt tokens that are content: inside a message text, not special, and not the first token (the
    attention sink, which gathers relevance whatever it is)."""
    mask = torch.zeros(len(ids), dtype=torch.bool)
    for i, (token_id, (s, e)) in enumerate(zip(ids, offsets)):
        if i == 0 or token_id in special_ids or e <= s:
            continue
        mask[i] = any(span.start < e <= span.end for span in content_spans)
    return mask


def _token_spans_any_order(
    text: str, offsets: Sequence[tuple[int, int]], spans: Sequence[Span]
) -> list[tuple[int, int]]:
    """Token ranges of character spans that may come in any order (chunks in someone else's prompt)."""
    order = sorted(range(len(spans)), key=lambda i: spans[i].start)
    ranges = char_to_token_spans(text, offsets, [spans[i] for i in order])
    result: list[tuple[int, int]] = [(0, 0)] * len(spans)
    for i, r in zip(order, ranges):
        result[i] = r
    return result


render_foreign = render_given_prompt  # the earlier name, kept importable
