"""Attribution methods compared by the evaluation, behind one small interface.

A method is a function ``fn(attributor, prepared) -> MethodOutput``: ``prepared`` is one case tokenised once
(prompt and answer ids, the token range of every chunk and sentence); the output holds one score per
sentence and chunk (higher: the chunk matters more for the sentence). The harness counts the model's
forward passes itself (a hook on the model) and times each call, so a method only declares its backward
passes. Adding one::

    from rag_attrib.eval import MethodOutput, method

    @method("first_chunk", "always blames the first chunk")
    def first_chunk(attributor, prepared):
        scores = torch.zeros(prepared.n_sentences, prepared.n_chunks)
        scores[:, 0] = 1
        return MethodOutput(scores)

``shares`` (optional) is each chunk's part of the positive evidence over the whole context (prompt content
and the answer before the sentence), as ``Citation.share``: methods that have it can flag a sentence as
ungrounded when its best chunk's share is below ``min_share``.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..aggregate import sentence_citations
from ..lrp import attention_kernel
from ..lrp.relevance import sentence_relevance, teacher_forced_logprobs
from ..markers import citation_spans
from ..prompt import Encoded, RenderedPrompt, encode, encode_prompt, render_rag_prompt
from ..text import split_sentences
from ..types import AttributorLike, Citation, Span
from . import embedding
from .data import EvalCase


@dataclass(frozen=True)
class Prepared(Encoded):
    """One case encoded exactly as ``Attributor.attribute`` encodes it (``prompt.encode``), with the case."""

    case: EvalCase | None = None
    seed: int = 0  # for methods that draw random numbers

    def context_masks(self) -> list[Tensor]:
        """Per sentence, the tokens that count as its context (``Encoded.context_mask``)."""
        return [self.context_mask(i) for i in range(self.n_sentences)]


def prepare(attributor: AttributorLike, case: EvalCase, seed: int = 0) -> Prepared:
    rendered = render_rag_prompt(attributor.tokenizer, case.question, case.chunks, attributor.system_prompt)
    return Prepared(**vars(_encode_case(attributor.tokenizer, rendered, case)), case=case, seed=seed)


def _encode_case(tokenizer: Any, rendered: RenderedPrompt, case: EvalCase) -> Encoded:
    """The case's answer after ``rendered`` as ``Attributor.attribute`` encodes it: its sentences, its markers
    out of the targets."""
    return encode(tokenizer, rendered, case.answer, case.spans, skip=citation_spans(case.answer, case.chunks))


@dataclass(frozen=True)
class MethodOutput:
    scores: Tensor  # [n_sentences, n_chunks], float
    backwards: int = 0
    shares: Tensor | None = None  # [n_sentences, n_chunks] in [0, 1], or None
    # by-products the harness may reuse for the faithfulness metrics: sentence log-probs per set of kept chunks
    logprobs: dict[frozenset[int], Tensor] | None = None
    # (sentence, chunk) -> the character span in the chunk's text the method points at, for evidence hit@1
    evidence: dict[tuple[int, int], Span] | None = None
    # [n_sentences] probabilities that some chunk carries the sentence: the support signal and, below one half,
    # the ungrounded flag (instead of the shares' min_share rule); NaN where the shares decide
    support: Tensor | None = None


MethodFn = Callable[[Any, Prepared], MethodOutput]


@dataclass(frozen=True)
class Method:
    name: str
    fn: MethodFn
    description: str = ""
    # None, or why it cannot run here: called with the attributor (None before it is loaded), or with no
    # argument when it takes none (what this machine lacks does not depend on the model)
    available: Callable[..., str | None] = field(default=lambda: None)

    def unavailable(self, attributor: AttributorLike | None) -> str | None:
        takes_attributor = bool(inspect.signature(self.available).parameters)
        return self.available(attributor) if takes_attributor else self.available()

    def __call__(self, attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
        return self.fn(attributor, prepared)


METHODS: dict[str, Method] = {}


def method(name: str, description: str = "", available: Callable[..., str | None] | None = None):
    """Register ``fn(attributor, prepared) -> MethodOutput`` under ``name``."""

    def register(fn: MethodFn) -> MethodFn:
        METHODS[name] = Method(name, fn, description, available or (lambda: None))
        return fn

    return register


# ---------------------------------------------------------------------------------------------- helpers


class ForwardCounter:
    """Counts calls of a model's top-level forward while active; those without autograd (a method's extra
    passes beside an attribution, e.g. the support model's) are also counted and timed apart."""

    def __init__(self) -> None:
        self.count = 0
        self.no_grad_count = 0
        self.no_grad_seconds = 0.0


@contextmanager
def count_forwards(*models: torch.nn.Module) -> Iterator[ForwardCounter]:
    """One counter over the calls of each of ``models`` (the attribution model, and a judge beside it)."""
    counter = ForwardCounter()
    started: list[float] = []

    def before(*_: Any) -> None:
        counter.count += 1
        if not torch.is_grad_enabled():
            counter.no_grad_count += 1
            started.append(time.perf_counter())

    def after(*_: Any) -> None:
        if not torch.is_grad_enabled() and started:
            counter.no_grad_seconds += time.perf_counter() - started.pop()

    handles = [hook for model in dict.fromkeys(models)
               for hook in (model.register_forward_pre_hook(before), model.register_forward_hook(after))]
    try:
        yield counter
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def sentence_logprobs(attributor: AttributorLike, case: EvalCase, keep: Sequence[int], answer_ids: Sequence[int] | None = None,
                      sentence_spans: Sequence[tuple[int, int]] | None = None, skip: Sequence[int] = ()) -> Tensor:
    """Teacher-forced log-probability of every answer sentence given the prompt with only chunks ``keep``.

    The prompt is re-rendered with ``render_rag_prompt`` from the kept chunks (in their original order); the
    answer and its sentences are tokenised once, so they are the same tokens whatever is removed.
    ``sentence_spans`` and ``skip`` (the citation markers' tokens) are relative to the answer start. One forward
    pass.
    """
    tok = attributor.tokenizer
    kept = [case.chunks[i] for i in sorted(keep)]
    rendered = render_rag_prompt(tok, case.question, kept, attributor.system_prompt)
    if answer_ids is None or sentence_spans is None:
        enc = _encode_case(tok, rendered, case)
        answer_ids, sentence_spans, skip = enc.answer_ids, enc.relative_sentences(), enc.relative_skip()
    prompt_ids = encode_prompt(tok, rendered.text)[0]
    start = len(prompt_ids)
    ids = torch.tensor(list(prompt_ids) + list(answer_ids))
    spans = [(start + a, start + b) for a, b in sentence_spans]
    return teacher_forced_logprobs(attributor.model, ids, start, spans, [start + t for t in skip]).double()


def _aggregate(relevance: Tensor, prepared: Prepared) -> tuple[Tensor, Tensor]:
    """Token relevance rows -> (scores, shares) with the core's aggregation (``sentence_citations``)."""
    ids = [str(i) for i in range(prepared.n_chunks)]
    rows = [sentence_citations(relevance[i], ids, prepared.chunk_tokens, mask)[0]
            for i, mask in enumerate(prepared.context_masks())]
    return _matrices(rows, {i: j for j, i in enumerate(ids)}, prepared)


def _matrices(rows: Sequence[Sequence[Citation]], index: dict[str, int], prepared: Prepared) -> tuple[Tensor, Tensor]:
    """Per-sentence citations -> (scores, shares) matrices, [n_sentences, n_chunks], columns by ``index``."""
    scores = torch.zeros(prepared.n_sentences, prepared.n_chunks, dtype=torch.float64)
    shares = torch.zeros_like(scores)
    for i, citations in enumerate(rows):
        for c in citations:
            scores[i, index[c.chunk_id]] = c.score
            shares[i, index[c.chunk_id]] = c.share
    return scores, shares


# ---------------------------------------------------------------------------------------------- methods


@method("attnlrp", "ours: sentence-level AttnLRP (Attributor.attribute), 1 forward + 1 backward per sentence")
def attnlrp_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    return _attributed(attributor, prepared, support=None)  # the shares alone


def _attributed(attributor: AttributorLike, prepared: Prepared, support: Any) -> MethodOutput:
    """``Attributor.attribute`` on the case with evidence in every chunk and the given support model."""
    case = prepared.case
    every_chunk = copy.copy(attributor)  # the same model and settings
    every_chunk.evidence, every_chunk.support = "all", support
    result = every_chunk.attribute(case.question, case.chunks, case.answer, sentences=case.spans)
    index = {c.id: j for j, c in enumerate(case.chunks)}
    scores, shares = _matrices([s.citations for s in result.sentences], index, prepared)
    evidence = {(i, index[c.chunk_id]): c.evidence[0].span
                for i, s in enumerate(result.sentences) for c in s.citations if c.evidence}
    values = [s.support for s in result.sentences]  # None where the support model leaves it to the shares: NaN
    probabilities = (None if all(v is None for v in values)
                     else torch.tensor([math.nan if v is None else v for v in values], dtype=torch.float64))
    return MethodOutput(scores, backwards=len(result.sentences), shares=shares, evidence=evidence,
                        support=probabilities)


def _has_support(attributor: AttributorLike | None) -> str | None:
    if attributor is None or getattr(attributor, "support", None) is not None:
        return None
    name = getattr(attributor, "model_name", "this model")
    return f"{name} has no fitted support model; pass one as Attributor(..., support=...) (rag_attrib.support)"


@method("support", "ours with the support model: AttnLRP + 2 forward passes without graph (+ 1 of the judge per "
        "sentence where it reads one, counted among the forward passes); a sentence is "
        "ungrounded when its support is below one half (where the support model leaves a prompt to the shares, "
        "as SmolLM2's does on short chunks, they decide, as for attnlrp)", available=_has_support)
def support_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    return _attributed(attributor, prepared, support=attributor.support)


@method("gradxinput", "plain gradient x input at the embeddings, same target and aggregation, no LRP rules")
def gradxinput_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    relevance, *_ = sentence_relevance(attributor.model, prepared.input_ids, prepared.answer_start,
                                      prepared.sentence_tokens, target=attributor.target, lrp=False,
                                      skip=prepared.skip)
    scores, shares = _aggregate(relevance, prepared)
    return MethodOutput(scores, backwards=len(prepared.sentence_tokens), shares=shares)


@method("attention", "attention weights from the sentence's positions onto each chunk, mean over heads and layers")
@torch.no_grad()
def attention_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    model = attributor.model
    ids = prepared.input_ids.to(model.device)
    with attention_kernel(model, "eager"):
        out = model(ids[None], output_attentions=True, use_cache=False, logits_to_keep=1)
    # [seq, seq]: mean over layers and heads of the attention of each query position onto each key position
    att = torch.stack([a[0].float().mean(0) for a in out.attentions]).mean(0).cpu().double()
    scores = torch.zeros(prepared.n_sentences, prepared.n_chunks, dtype=torch.float64)
    shares = torch.zeros_like(scores)
    skip = set(prepared.skip)
    for i, ((a, b), mask) in enumerate(zip(prepared.sentence_tokens, prepared.context_masks())):
        # the positions whose outputs predict the sentence's tokens, its citation markers' left out as in attnlrp
        predicting = [t - 1 for t in range(a, b) if t not in skip] or [t - 1 for t in range(a, b)]
        rows = att[predicting].mean(0)
        total = float(rows[mask].sum())
        for j, (ca, cb) in enumerate(prepared.chunk_tokens):
            scores[i, j] = rows[ca:cb].sum()
            shares[i, j] = scores[i, j] / total if total > 0 else 0.0
    return MethodOutput(scores, shares=shares)


STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "by", "for", "from", "has", "have", "he", "her", "his", "in",
    "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "them", "they", "this", "to", "was", "were",
    "which", "who", "with",
})


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS}


def unigram_f1(sentence: str, chunk: str) -> float:
    s, c = words(sentence), words(chunk)
    common = len(s & c)
    if not common:
        return 0.0
    p, r = common / len(s), common / len(c)
    return 2 * p * r / (p + r)


@method("lexical", "word overlap between sentence and chunk (unigram F1 without stopwords); no model")
def lexical_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    case = prepared.case
    scores = torch.tensor(
        [[unigram_f1(s.text, c.text) for c in case.chunks] for s in case.sentences], dtype=torch.float64
    )
    evidence = {}  # the chunk sentence with the most word overlap
    for j, chunk in enumerate(case.chunks):
        units = split_sentences(chunk.text)
        for i, s in enumerate(case.sentences):
            evidence[i, j] = max(units, key=lambda u: unigram_f1(s.text, u.of(chunk.text)))
    return MethodOutput(scores, evidence=evidence)


def case_seed(seed: int, case_id: str, salt: str = "") -> int:
    return zlib.crc32(f"{salt}{seed}:{case_id}".encode())


@method("random", "uniform random scores, seeded by the run's seed and the case id")
def random_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    g = torch.Generator().manual_seed(case_seed(prepared.seed, prepared.case.id, "random"))
    return MethodOutput(torch.rand(prepared.n_sentences, prepared.n_chunks, generator=g, dtype=torch.float64))


@method("loo", "leave-one-chunk-out: drop in each sentence's log-probability when the chunk is removed")
def loo_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    case, n = prepared.case, prepared.n_chunks
    spans = prepared.relative_sentences()
    skip = prepared.relative_skip()
    base = sentence_logprobs(attributor, case, range(n), prepared.answer_ids, spans, skip)
    kept = [frozenset(range(n)) - {j} for j in range(n)]
    without = [sentence_logprobs(attributor, case, k, prepared.answer_ids, spans, skip) for k in kept]
    return MethodOutput(base[:, None] - torch.stack(without, 1), logprobs=dict(zip(kept, without)))


def contextcite_available() -> str | None:
    from .contextcite import unavailable

    return unavailable()


def _contextcite(num_ablations: int) -> MethodFn:
    def fn(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
        from .contextcite import contextcite_scores

        return MethodOutput(contextcite_scores(attributor, prepared, num_ablations))

    return fn


METHODS["contextcite"] = Method(
    "contextcite", _contextcite(64), "peer: ContextCite (PyPI context-cite), its default 64 ablations, LASSO",
    contextcite_available,
)
METHODS["contextcite16"] = Method(
    "contextcite16", _contextcite(16), "peer: ContextCite with 16 ablations", contextcite_available
)


@method("embedding", "cosine similarity of sentence and chunk embeddings, all-MiniLM-L6-v2; no attribution model",
        available=embedding.unavailable)
def embedding_method(attributor: AttributorLike, prepared: Prepared) -> MethodOutput:
    # No shares: a cosine says how close two texts are, not which part of the context's evidence a chunk
    # is; the best chunk's similarity itself is the support signal (AUROC).
    case = prepared.case
    sentences = [s.text for s in case.sentences]
    evidence = {}  # the chunk sentence most similar to the answer sentence
    for j, chunk in enumerate(case.chunks):
        units = split_sentences(chunk.text)
        best = embedding.similarity(sentences, [u.of(chunk.text) for u in units]).argmax(-1)
        evidence.update({(i, j): units[int(k)] for i, k in enumerate(best)})
    return MethodOutput(embedding.similarity(sentences, [c.text for c in case.chunks]).double(), evidence=evidence)


DEFAULT_METHODS = (
    "attnlrp", "support", "gradxinput", "attention", "lexical", "embedding", "random", "loo", "contextcite", "contextcite16",
)
