"""``Attributor``: the entry point. Renders the prompt, generates or teacher-forces the answer, runs the engine
(``rag_attrib.lrp.relevance``) and aggregates token relevance into citations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from .aggregate import DEFAULT_MIN_SHARE, content_mask, context_mask, sentence_citations
from .errors import ContextTooLongError, EmptyAnswerError
from .lrp import family_for, model_lock
from .lrp.relevance import Backward, Memory, check_memory, sentence_relevance
from .prompt import DEFAULT_SYSTEM, RenderedPrompt, render_messages, render_rag_prompt
from .text import char_to_token_spans, locate_chunks, split_sentences
from .types import TARGETS, AttributionResult, Chunk, SentenceAttribution, Span, Target, TokenRelevance, as_chunks


class Attributor:
    """Attributes answers to retrieved chunks with sentence-level AttnLRP on a local causal LM.

    The model is patched only for the duration of each attribution and is a plain model otherwise.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        target: Target = "token",
        min_share: float = DEFAULT_MIN_SHARE,
        max_new_tokens: int = 160,
        backward: Backward = "loop",
        system_prompt: str | None = DEFAULT_SYSTEM,
        keep_token_relevance: bool = True,
        memory: Memory = "auto",
    ) -> None:
        """``memory``: ``"fast"`` keeps the whole graph for the sentences' backward passes (memory grows by
        about 1 MB per token on SmolLM2-135M), ``"low"`` recomputes one decoder layer at a time (the same
        relevance, a fraction of the memory, slower; ``sentence_relevance`` says how), ``"auto"`` (default)
        picks ``"fast"`` when its estimated activations fit half the device's free memory, and an int (bytes)
        picks ``"fast"`` when they fit that budget."""
        family_for(model)  # fail now, not at the first call, for an architecture without rules
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                "rag_attrib needs a fast tokenizer (for character offsets); load it with "
                "AutoTokenizer.from_pretrained(..., use_fast=True)"
            )
        self.model, self.tokenizer = model, tokenizer
        self.target, self.min_share, self.max_new_tokens = target, min_share, max_new_tokens
        self.backward, self.system_prompt, self.keep_token_relevance = backward, system_prompt, keep_token_relevance
        check_memory(memory)
        self.memory = memory

    @classmethod
    def load(cls, name_or_path: str | None = None, **kwargs: Any) -> Attributor:
        """``Attributor`` on ``load_model(name_or_path)``; with no argument, the embedded default model.

        The other keyword arguments (``target``, ``memory``, ...) go to ``Attributor(...)``."""
        from .model import load_model

        model_kwargs = {k: kwargs.pop(k) for k in ("gguf_file", "dtype", "device", "attn_implementation", "cache")
                        if k in kwargs}
        model, tokenizer = load_model(name_or_path, **model_kwargs)
        return cls(model, tokenizer, **kwargs)

    @property
    def model_name(self) -> str:
        return str(getattr(self.model, "name_or_path", "") or self.model.config.model_type)

    def attribute(
        self,
        question: str,
        chunks: Iterable[str | Chunk | Mapping[str, Any]],
        answer: str | None = None,
        *,
        target: Target | None = None,
        sentences: Sequence[Span] | None = None,
    ) -> AttributionResult:
        """Render the default RAG prompt, generate the answer if none is given, and attribute it.

        A given answer (from any LLM) is scored by teacher forcing: the result says ``proxy=True``.
        ``sentences`` (character spans into ``answer``) replaces the built-in sentence split.
        """
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        chunks = as_chunks(chunks)
        _check_answer(answer)
        rendered = render_rag_prompt(self.tokenizer, question, chunks, self.system_prompt)
        # A chat template writes its own BOS; a plain transcript needs the tokenizer's (Gemma needs one).
        add_special = not getattr(self.tokenizer, "chat_template", None)
        return self._attribute(rendered, chunks, answer, question, target, add_special, sentences)

    def attribute_prompt(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        chunks: Iterable[str | Chunk | Mapping[str, Any]],
        answer: str | None = None,
        *,
        question: str | None = None,
        target: Target | None = None,
        sentences: Sequence[Span] | None = None,
    ) -> AttributionResult:
        """Attribute an answer to a prompt someone else rendered (a string, or chat messages).

        Chat messages are rendered with the local model's chat template. Each chunk is found in the prompt
        by its text; ``ChunkNotFoundError`` says which one is missing.
        """
        chunks = as_chunks(chunks)
        _check_answer(answer)
        if isinstance(prompt, str):
            text = prompt
            rendered = RenderedPrompt(text, tuple(locate_chunks(text, chunks)), (Span(0, len(text)),))
            add_special = not _starts_with_special(self.tokenizer, text)
        else:
            rendered = render_messages(self.tokenizer, prompt)
            rendered = RenderedPrompt(rendered.text, tuple(locate_chunks(rendered.text, chunks)), rendered.content_spans)
            add_special = False
        return self._attribute(rendered, chunks, answer, question, target, add_special, sentences)

    def _attribute(
        self,
        rendered: RenderedPrompt,
        chunks: tuple[Chunk, ...],
        answer: str | None,
        question: str | None,
        target: str | None,
        add_special_tokens: bool,
        sentences: Sequence[Span] | None = None,
    ) -> AttributionResult:
        if sentences is not None and answer is None:
            raise ValueError("sentences=... needs the answer it indexes; pass answer=... too")
        target = target or self.target
        tok = self.tokenizer
        prompt_enc = tok(rendered.text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        prompt_ids, prompt_offsets = prompt_enc["input_ids"], prompt_enc["offset_mapping"]
        proxy = answer is not None
        if answer is None:
            answer = self.generate(prompt_ids)
            if not answer.strip():
                raise EmptyAnswerError(
                    "the model generated an empty answer; pass answer=... or check the prompt and max_new_tokens"
                )
        answer_enc = tok(answer, add_special_tokens=False, return_offsets_mapping=True)
        answer_ids, answer_offsets = answer_enc["input_ids"], answer_enc["offset_mapping"]
        answer_start = len(prompt_ids)
        seq_len = answer_start + len(answer_ids)
        self._check_length(seq_len, answer_start)

        sentence_spans = split_sentences(answer) if sentences is None else _checked_spans(sentences, answer)
        sentence_tokens = [
            (answer_start + a, answer_start + b) for a, b in char_to_token_spans(answer, answer_offsets, sentence_spans)
        ]
        chunk_tokens = _token_spans_any_order(rendered.text, prompt_offsets, rendered.chunk_spans)

        input_ids = torch.tensor(prompt_ids + answer_ids, dtype=torch.long)
        relevance, values = sentence_relevance(
            self.model, input_ids, answer_start, sentence_tokens, target=target, backward=self.backward,
            memory=self.memory,
        )

        content = content_mask(prompt_ids, prompt_offsets, rendered.content_spans, set(tok.all_special_ids))
        attributed = []
        for i, (span, (a, _)) in enumerate(zip(sentence_spans, sentence_tokens, strict=True)):
            mask = context_mask(seq_len, content, answer_start, a)
            citations, cited, grounding = sentence_citations(
                relevance[i], [c.id for c in chunks], chunk_tokens, mask, self.min_share
            )
            attributed.append(
                SentenceAttribution(span.of(answer), span, citations, cited, grounding, float(values[i]))
            )

        token_relevance = None
        if self.keep_token_relevance:
            full_text = rendered.text + answer
            offsets = [Span(*o) for o in prompt_offsets] + [Span(s + len(rendered.text), e + len(rendered.text))
                                                           for s, e in answer_offsets]
            tokens = tok.convert_ids_to_tokens(prompt_ids + answer_ids)
            token_relevance = TokenRelevance(
                tokens=tuple(o.of(full_text) if o.end > o.start else t for o, t in zip(offsets, tokens)),
                offsets=tuple(offsets),
                answer_start=answer_start,
                values=tuple(tuple(float(v) for v in row) for row in relevance),
            )
        return AttributionResult(
            sentences=tuple(attributed),
            chunks=chunks,
            chunk_spans=rendered.chunk_spans,
            prompt=rendered.text,
            answer=answer,
            question=question,
            model=self.model_name,
            target=target,
            proxy=proxy,
            min_share=self.min_share,
            token_relevance=token_relevance,
        )

    @torch.no_grad()
    def generate(self, prompt_ids: Sequence[int]) -> str:
        """Greedy answer of the local model, bounded by ``max_new_tokens``."""
        self._check_length(len(prompt_ids) + self.max_new_tokens, len(prompt_ids))
        ids = torch.tensor([list(prompt_ids)], device=self.model.device)
        gen = self.model.generation_config
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            eos_token_id=gen.eos_token_id,
            pad_token_id=gen.pad_token_id if gen.pad_token_id is not None else gen.eos_token_id,
        )
        with model_lock(self.model):  # never generate on a model another thread has patched
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
        return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()

    def _check_length(self, seq_len: int, prompt_len: int) -> None:
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit is not None and seq_len > limit:
            raise ContextTooLongError(
                f"prompt ({prompt_len} tokens) plus answer need {seq_len} tokens, but {self.model_name} has a "
                f"context window of {limit}; pass fewer or shorter chunks, a shorter answer, or a model with a "
                "longer context"
            )


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


def _checked_spans(spans: Sequence[Span], answer: str) -> list[Span]:
    spans = list(spans)
    if not spans:
        raise ValueError("sentences=[] has no sentence to attribute; pass None to split the answer automatically")
    for a, b in zip(spans, spans[1:]):
        if a.end > b.start:
            raise ValueError(f"sentence spans must be in order and must not overlap: {a} then {b}")
    for span in spans:
        if span.end > len(answer) or not span.of(answer).strip():
            raise ValueError(f"sentence span {span} is outside the answer or only whitespace")
    return spans


def _check_answer(answer: str | None) -> None:
    if answer is None:
        return
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a str or None, got {type(answer).__name__}")
    if not answer.strip():
        raise EmptyAnswerError(
            "the answer is empty or only whitespace, so there is nothing to attribute (if an LLM returned it, "
            "its call failed or was cut off); pass the answer's text, or answer=None to let the local model answer"
        )


def _starts_with_special(tokenizer: PreTrainedTokenizerBase, text: str) -> bool:
    return any(t and text.startswith(t) for t in tokenizer.all_special_tokens)
