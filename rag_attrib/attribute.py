"""``Attributor``: the entry point. Renders the prompt, generates or teacher-forces the answer, runs the engine
(``rag_attrib.lrp.relevance``) and aggregates token relevance into citations."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from .aggregate import (
    DEFAULT_MIN_SHARE,
    EvidenceUnits,
    check_min_share,
    evidence_units,
    sentence_citations,
    with_evidence,
)
from .errors import ContextTooLongError, EmptyAnswerError, InvalidInputError, InvalidTypeError
from .judge import evidence_passage, judge
from .lrp import family_for, model_lock
from .lrp.relevance import Backward, Memory, check_memory, sentence_relevance, teacher_forced_logprobs
from .markers import citation_spans
from .prompt import (
    DEFAULT_SYSTEM,
    Encoded,
    RenderedPrompt,
    encode,
    encode_prompt,
    render_given_prompt,
    render_rag_prompt,
)
from .stream import AnswerStream, stream_pieces
from .support import Support, contradiction, mean_words, reads, with_answer, without_chunks
from .text import check_answer, is_blank, locate_chunks
from .types import (
    TARGETS,
    AttributionResult,
    Chunk,
    Citation,
    SentenceAttribution,
    Span,
    Target,
    TokenRelevance,
    as_chunks,
)
from .verdicts import carrying

EvidenceMode = Literal["cited", "all", "none"]
EVIDENCE_MODES = ("cited", "all", "none")


def model_name(model: PreTrainedModel) -> str:
    """A loaded model's name or path, or its model type where it has none."""
    return str(getattr(model, "name_or_path", "") or model.config.model_type)


NO_JUDGE_READER = ("a judge is asked only where the support model reads 'judge', and this one never does; pass a "
                   "support fit that names it (Attributor.load(judge='qwen2.5-1.5b') brings the default model's), "
                   "or leave the judge out")


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
        evidence: EvidenceMode = "cited",
        memory: Memory = "auto",
        support: Support | None = None,
        contradictions: bool = True,
        judge: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None,
    ) -> None:
        """An attributor on ``model`` (a causal LM of a registered family, ``rag_attrib.lrp.supported_model_types``)
        and its ``tokenizer`` (a fast one: sentences and chunks are located by character offsets).

        - ``target``: what each sentence's backward pass explains: ``"token"`` the logit of each answer token,
          ``"max"`` the largest logit (Sentence-LRP's choice, equal under greedy decoding), ``"logprob"`` its
          log-probability; ``attribute(..., target=)`` overrides it per call.
        - ``min_share``: the share of the positive relevance a chunk needs to be cited (``Citation.share``);
          ``Attributor.load`` brings the one chosen for a named model.
        - ``max_new_tokens``: the longest answer the local model writes when no answer is given.
        - ``backward``: ``"loop"`` runs one backward pass per sentence through the same graph, ``"batched"`` one
          vmapped backward for all of them; the same relevance.
        - ``system_prompt``: the system message of the default RAG prompt (``attribute``, ``stream``); None or
          ``""`` for none.
        - ``keep_token_relevance``: keep every input token's relevance in the result (``token_relevance``, and
          its JSON); False leaves it out.
        - ``evidence``: which citations get ``Citation.evidence``, the passage of the chunk that carries the
          sentence: ``"cited"`` (the cited chunks), ``"all"`` (every chunk) or ``"none"``; no model cost.
        - ``memory``: ``"fast"`` keeps the whole graph for the sentences' backward passes (memory grows by
          about 1 MB per token on SmolLM2-135M), ``"low"`` recomputes one decoder layer at a time (the same
          relevance, a fraction of the memory, slower; ``sentence_relevance`` says how), ``"auto"`` (default)
          picks ``"fast"`` when its estimated activations fit half the device's free memory, and an int (bytes)
          picks ``"fast"`` when they fit that budget.
        - ``support``: a fitted support model that decides whether a sentence is carried by any chunk (two extra
          forward passes per answer; ``rag_attrib.support``), or None to decide by the shares alone.
        - ``contradictions``: whether to compare each carried sentence with the passage of its top chunk that the
          relevance found (``SentenceAttribution.conflict``; no model cost).
        - ``judge``: the ``(model, tokenizer)`` that answers whether a sentence's evidence passage supports it,
          where the support model reads ``judge`` (``rag_attrib.judge``); None: the attribution model itself.
          ``Attributor.load(name, judge="qwen2.5-1.5b")`` loads it with the support fit that reads it.
        """
        family_for(model)  # fail now, not at the first call, for an architecture without rules
        if target not in TARGETS:
            raise InvalidInputError(f"target must be one of {TARGETS}, got {target!r}")
        if not getattr(tokenizer, "is_fast", False):
            raise InvalidTypeError(
                "rag_attrib needs a fast tokenizer (for character offsets); load it with "
                "AutoTokenizer.from_pretrained(..., use_fast=True)"
            )
        self.model, self.tokenizer = model, tokenizer
        self.target, self.min_share, self.max_new_tokens = target, check_min_share(min_share), max_new_tokens
        if evidence not in EVIDENCE_MODES:
            raise InvalidInputError(f"evidence must be one of {EVIDENCE_MODES}, got {evidence!r}")
        self.backward, self.system_prompt, self.keep_token_relevance = backward, system_prompt, keep_token_relevance
        self.evidence = evidence
        check_memory(memory)
        self.memory, self.support, self.contradictions = memory, support, contradictions
        if judge is not None and (not isinstance(judge, tuple) or len(judge) != 2):
            raise InvalidTypeError(f"judge must be a (model, tokenizer) pair, got {type(judge).__name__}; pass "
                                   "judge=(model, tokenizer), or None to let the attribution model judge")
        if judge is not None and not reads(support, "judge"):
            raise InvalidInputError(NO_JUDGE_READER)
        self.judge = judge

    @classmethod
    def load(cls, name_or_path: str | None = None, **kwargs: Any) -> Attributor:
        """``Attributor`` on ``load_model(name_or_path)``; with no argument, the default model.

        The other keyword arguments (``target``, ``memory``, ...) go to ``Attributor(...)``. A named offline
        model brings the ``min_share`` and the support model chosen for it on the dev sets unless they are given
        (``support=None`` turns the support model off). ``judge``, a model's name or path, is loaded beside it
        (the same ``dtype``, ``device`` and ``cache``) to answer the judge question; a named model brings the
        support fit chosen with that judge's answers where it has one: the default model with ``qwen2.5-1.5b``
        (slower, better verdicts on documentation of other families, ``docs/verification.md``)."""
        from .model import default_min_share, default_support, load_model

        for taken in ("model", "tokenizer"):
            if taken in kwargs:
                name = repr(kwargs[taken]) if isinstance(kwargs[taken], (str, os.PathLike)) else "name_or_path"
                raise InvalidTypeError(
                    f"Attributor.load loads the model itself: pass its name or path first, Attributor.load({name}), "
                    f"not {taken}=...; for a model already loaded, use Attributor(model, tokenizer)")
        model_kwargs = {k: kwargs.pop(k) for k in ("gguf_file", "dtype", "device", "attn_implementation", "cache")
                        if k in kwargs}
        if kwargs.get("min_share") is None and (chosen := default_min_share(name_or_path)) is not None:
            kwargs["min_share"] = chosen
        judge_name = kwargs.get("judge") if isinstance(kwargs.get("judge"), (str, os.PathLike)) else None
        if "support" not in kwargs:
            kwargs["support"] = default_support(name_or_path, judge=None if judge_name is None else str(judge_name))
        if kwargs.get("judge") is not None and not reads(kwargs["support"], "judge"):
            raise InvalidInputError(NO_JUDGE_READER)  # told before minutes of loading
        if judge_name is not None:  # first: a judge that is not installed fails before the model loads
            kwargs["judge"] = load_model(judge_name, **{k: v for k, v in model_kwargs.items() if k != "gguf_file"})
        model, tokenizer = load_model(name_or_path, **model_kwargs)
        return cls(model, tokenizer, **kwargs)

    @property
    def model_name(self) -> str:
        """The model's name or path, or its model type where it has none; recorded in each result."""
        return model_name(self.model)

    def attribute(
        self,
        question: str,
        chunks: Iterable[str | Chunk | Mapping[str, Any]],
        answer: str | None = None,
        *,
        target: Target | None = None,
        sentences: Sequence[Span] | None = None,
    ) -> AttributionResult:
        """Render the default RAG prompt of ``question`` and ``chunks``, generate the answer if none is given, and
        attribute each of its sentences to the chunks.

        ``chunks`` are ``Chunk``s, strings (their ids become "1", "2", ... as numbered in the prompt) or dicts with
        a ``"text"`` key. A given ``answer`` (from any LLM) is scored by teacher forcing: the result says
        ``proxy=True``. ``target`` overrides the attributor's for this call. ``sentences`` (character spans into
        ``answer``) replaces the built-in sentence split.
        """
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError("question must be a non-empty string; pass the question the answer responds to")
        chunks = as_chunks(chunks)
        _check_answer(answer)
        rendered = render_rag_prompt(self.tokenizer, question, chunks, self.system_prompt)
        return self._attribute(rendered, chunks, answer, question, target, sentences)

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
        """Attribute an answer to a ``prompt`` someone else rendered (a string, or chat messages).

        Chat messages are rendered with the local model's chat template. Each of ``chunks`` is found in the prompt
        by its text (``text.locate_chunks``); ``ChunkNotFoundError`` says which one is missing. ``answer``,
        ``target`` and ``sentences`` as in ``attribute``; ``question``, if given, is recorded in the result and
        read by the contradiction check.
        """
        chunks = as_chunks(chunks)
        _check_answer(answer)
        rendered = render_given_prompt(self.tokenizer, prompt)
        rendered = RenderedPrompt(rendered.text, tuple(locate_chunks(rendered.text, chunks)), rendered.content_spans)
        return self._attribute(rendered, chunks, answer, question, target, sentences)

    def open_stream(
        self,
        question: str | None = None,
        chunks: Iterable[str | Chunk | Mapping[str, Any]] = (),
        *,
        prompt: str | Sequence[Mapping[str, Any]] | None = None,
        target: Target | None = None,
        proxy: bool = True,
    ) -> AnswerStream:
        """An ``AnswerStream`` for an answer that arrives in pieces: ``feed(piece)`` returns the sentences each
        piece settles, attributed; ``finish()`` the full result. The prompt is the default RAG prompt of
        ``question`` and ``chunks``, or ``prompt`` (a string or chat messages) in which the chunks are found, as
        ``attribute_prompt`` does. ``target`` overrides the attributor's; ``proxy=False`` marks an answer the local
        model itself writes."""
        chunks = as_chunks(chunks)
        if prompt is None:
            if not isinstance(question, str) or not question.strip():
                raise InvalidInputError("question must be a non-empty string (or pass prompt=...); pass the "
                                        "question the answer responds to")
            rendered = render_rag_prompt(self.tokenizer, question, chunks, self.system_prompt)
        else:
            rendered = render_given_prompt(self.tokenizer, prompt)
            rendered = RenderedPrompt(rendered.text, tuple(locate_chunks(rendered.text, chunks)),
                                      rendered.content_spans)
        if (target or self.target) not in TARGETS:
            raise InvalidInputError(f"target must be one of {TARGETS}, got {target!r}")
        return AnswerStream(self, rendered, chunks, question, target or self.target, proxy)

    def stream(
        self,
        question: str | None = None,
        chunks: Iterable[str | Chunk | Mapping[str, Any]] = (),
        answer: Iterable[str] | None = None,
        *,
        prompt: str | Sequence[Mapping[str, Any]] | None = None,
        target: Target | None = None,
    ) -> Iterator[SentenceAttribution | AttributionResult]:
        """Attribute an answer while it is written: yields each sentence's ``SentenceAttribution`` as soon as the
        sentence is settled (``rag_attrib.stream``; ``support`` None), then the ``AttributionResult`` that
        ``attribute`` gives on the finished answer. ``answer``: the pieces of an answer from any LLM (an
        iterable of str, e.g. a streaming client's text deltas), or None to let the local model write it, its
        forward pass serving the attribution. ``question``, ``chunks``, ``prompt`` and ``target`` as in
        ``open_stream``."""
        if isinstance(answer, str):
            answer = [answer]
        answer_stream = self.open_stream(question, chunks, prompt=prompt, target=target, proxy=answer is not None)
        yield from stream_pieces(answer_stream, answer_stream.generate() if answer is None else answer)

    def answer(self, prompt: str | Sequence[Mapping[str, Any]]) -> str:
        """The local model's greedy answer to a prompt (a string used as is, or chat messages rendered with its
        chat template), bounded by ``max_new_tokens``."""
        return self.generate(encode_prompt(self.tokenizer, render_given_prompt(self.tokenizer, prompt).text)[0])

    def _attribute(
        self,
        rendered: RenderedPrompt,
        chunks: tuple[Chunk, ...],
        answer: str | None,
        question: str | None,
        target: str | None,
        sentences: Sequence[Span] | None = None,
    ) -> AttributionResult:
        if sentences is not None and answer is None:
            raise InvalidInputError("sentences=... needs the answer it indexes; pass answer=... too")
        target = target or self.target
        proxy = answer is not None
        if answer is None:
            answer = self.generate(encode_prompt(self.tokenizer, rendered.text)[0])
            if is_blank(answer):
                raise EmptyAnswerError(
                    "the model generated an empty answer; pass answer=... or check the prompt and max_new_tokens"
                )
        # Citation markers the answer carries ("[2]") are read off the prompt's labels, not drawn from a chunk's
        # content: they stay in the text the model reads, but in no sentence's target.
        enc = encode(self.tokenizer, rendered, answer, None if sentences is None else _checked_spans(sentences, answer),
                     skip=citation_spans(answer, chunks))
        self._check_length(enc.seq_len, enc.answer_start)
        relevance, values, logprobs = sentence_relevance(
            self.model, enc.input_ids, enc.answer_start, enc.sentence_tokens, target=target, backward=self.backward,
            memory=self.memory, skip=enc.skip,
        )
        return self._result(enc, chunks, relevance, values, logprobs, question, target, proxy)

    def _result(self, enc: Encoded, chunks: tuple[Chunk, ...], relevance: torch.Tensor, values: torch.Tensor,
                logprobs: torch.Tensor, question: str | None, target: str, proxy: bool) -> AttributionResult:
        """The result from the engine's output: citations, support and evidence of every sentence."""
        rendered, answer = enc.prompt, enc.answer
        rows = [self._citation_row(enc, chunks, relevance[i], i) for i in range(enc.n_sentences)]
        units = evidence_units_by_chunk(enc, chunks)
        support = (self._support(enc, rows, logprobs, chunks, relevance, units) if self.support is not None
                   else [None] * enc.n_sentences)
        attributed = [self._sentence(enc, chunks, i, rows[i], relevance[i], float(values[i]), support[i], units,
                                     question) for i in range(enc.n_sentences)]
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
            token_relevance=self._token_relevance(enc, relevance) if self.keep_token_relevance else None,
        )

    @staticmethod
    def _citation_row(enc: Encoded, chunks: Sequence[Chunk], relevance: torch.Tensor, i: int) -> tuple:
        """Sentence ``i``'s citations (every chunk, by score) and grounding from its relevance row."""
        return sentence_citations(relevance, [c.id for c in chunks], enc.chunk_tokens, enc.context_mask(i))

    def _sentence(self, enc: Encoded, chunks: Sequence[Chunk], i: int, row: tuple, relevance: torch.Tensor,
                  value: float, support: float | None, units, question: str | None) -> SentenceAttribution:
        """Sentence ``i`` of ``enc`` with the chunks it cites (``carrying``), their evidence, and whether its top
        chunk states another value (``contradiction``)."""
        citations, grounding = row
        cited = carrying(citations, self.min_share, support)
        ids = [c.id for c in chunks]
        span = enc.sentence_spans[i]
        shown = {"cited": cited, "all": ids}.get(self.evidence, ())
        citations = with_evidence(citations, ids, relevance, units, shown)
        conflict = None
        if self.contradictions and citations and citations[0].score > 0:  # the verdict decides if it counts
            top = citations[0] if citations[0].chunk_id in shown else with_evidence(citations[:1], ids, relevance,
                                                                                    units, ids)[0]
            known = "\n".join([question or "", *(c.text for c in chunks if c.id in cited)])
            conflict = contradiction(span.of(enc.answer), top, chunks[ids.index(top.chunk_id)], known)
        return SentenceAttribution(span.of(enc.answer), span, citations, cited, grounding, value, support, conflict)

    def _support(self, enc: Encoded, rows: Sequence[tuple], logprobs: torch.Tensor, chunks: Sequence[Chunk],
                 relevance: torch.Tensor, units: Callable[[int], EvidenceUnits]) -> list[float | None]:
        """Each sentence's support probability from its citations and log-probabilities; two forward passes
        without graph: the prompt without any chunk, and without the chunks that are some sentence's top chunk;
        and one short one per sentence where the support model reads the ``judge``."""
        chunk_words = mean_words([c.text for c in chunks])
        decides = getattr(self.support, "decides", None)
        if decides is not None and not decides(chunk_words):
            return [None] * enc.n_sentences  # the shares decide here: no extra pass
        ids = [c.id for c in chunks]
        tops = {ids.index(citations[0].chunk_id) for citations, _ in rows if citations}
        lp = {name: self._logprobs_without(enc, remove) for name, remove in
              (("lp_none", range(len(ids))), ("lp_without_tops", sorted(tops)))}
        answer = []
        for i, (citations, grounding) in enumerate(rows):
            signals = {"shares": [c.share for c in citations], "grounding": grounding, "tokens": enc.target_tokens(i),
                       "chunk_words": chunk_words,
                       "lp_all": float(logprobs[i]), **{k: float(v[i]) for k, v in lp.items()}}
            if reads(self.support, "judge", chunk_words):
                signals["judge"] = self._judge(enc.sentence_spans[i].of(enc.answer), citations, chunks, relevance[i],
                                               units)
            answer.append(signals)
        return [self.support(signals) for signals in with_answer(answer)]

    def _judge(self, sentence: str, citations: Sequence[Citation], chunks: Sequence[Chunk], relevance: torch.Tensor,
               units: Callable[[int], EvidenceUnits]) -> float:
        """The model's log-odds that the evidence passage of the sentence's top chunk supports it."""
        ids = [c.id for c in chunks]
        top = with_evidence(citations[:1], ids, relevance, units, ids)[0]
        spans = [top.evidence[0].span] if top.evidence else []
        model, tokenizer = self.judge or (self.model, self.tokenizer)
        return judge(model, tokenizer, [evidence_passage(chunks[ids.index(top.chunk_id)].text, spans)], sentence)

    def _logprobs_without(self, enc: Encoded, remove: Sequence[int]) -> torch.Tensor:
        prompt_ids = encode_prompt(self.tokenizer, without_chunks(enc.prompt.text, enc.prompt.chunk_spans, remove))[0]
        shift = len(prompt_ids) - enc.answer_start
        spans = [(a + shift, b + shift) for a, b in enc.sentence_tokens]
        return teacher_forced_logprobs(self.model, torch.tensor(prompt_ids + enc.answer_ids), len(prompt_ids), spans,
                                       [t + shift for t in enc.skip])

    def _token_relevance(self, enc: Encoded, relevance: torch.Tensor) -> TokenRelevance:
        shift = len(enc.prompt.text)
        full_text = enc.prompt.text + enc.answer
        offsets = [Span(*o) for o in enc.prompt_offsets] + [Span(s + shift, e + shift) for s, e in enc.answer_offsets]
        tokens = self.tokenizer.convert_ids_to_tokens(enc.prompt_ids + enc.answer_ids)
        return TokenRelevance(
            tokens=tuple(o.of(full_text) if o.end > o.start else t for o, t in zip(offsets, tokens)),
            offsets=tuple(offsets),
            answer_start=enc.answer_start,
            values=tuple(tuple(float(v) for v in row) for row in relevance),
        )

    @torch.no_grad()
    def generate(self, prompt_ids: Sequence[int]) -> str:
        """Greedy answer of the local model to the token ids ``prompt_ids``, bounded by ``max_new_tokens``."""
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


def evidence_units_by_chunk(enc: Encoded, chunks: Sequence[Chunk]) -> Callable[[int], EvidenceUnits]:
    """The passages for evidence of chunk ``i`` of ``chunks`` in the encoded prompt ``enc``, as a function of
    ``i``: each chunk is cut once and only when its evidence is asked."""
    rendered = enc.prompt

    @functools.cache
    def units(i: int) -> EvidenceUnits:
        return evidence_units(chunks[i], rendered.text, rendered.chunk_spans[i], enc.prompt_offsets,
                              enc.chunk_tokens[i])

    return units


def _checked_spans(spans: Sequence[Span], answer: str) -> list[Span]:
    spans = list(spans)
    if not spans:
        raise InvalidInputError(
            "sentences=[] has no sentence to attribute; pass None to split the answer automatically"
        )
    for a, b in itertools.pairwise(spans):
        if a.end > b.start:
            raise InvalidInputError(f"sentence spans must be in order and must not overlap: {a} then {b}")
    for span in spans:
        if span.end > len(answer) or not span.of(answer).strip():
            raise InvalidInputError(f"sentence span {span} is outside the answer or only whitespace")
    return spans


def _check_answer(answer: str | None) -> None:
    if answer is not None:  # None: the local model answers
        check_answer(answer)

