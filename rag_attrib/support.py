"""Is a sentence supported by some chunk? One calibrated probability from several signals of the model.

The best chunk's AttnLRP share alone separates supported from unsupported sentences when answers copy their
sources, and not when they paraphrase (measured: ``benchmarks/support-studies.md``). A paraphrased but supported
sentence becomes much more likely when its source is in the prompt; an invented one does not. So the support
model combines, per sentence (``features``):

- ``best_share``: the best chunk's share of the sentence's positive relevance (AttnLRP, no extra cost);
- ``gain_per_token``: its log-probability with all chunks minus with none, per token (one extra forward pass);
- ``drop_per_token``: its log-probability with all chunks minus without the chunks that are some sentence's top
  chunk, per token (one extra forward pass);
- ``lp_per_token``, ``grounding``: its log-probability per token with all chunks; the chunks' total share;
- ``judge``: the model's log-odds that the evidence passage of its top chunk supports it (``rag_attrib.judge``;
  one short forward pass per sentence, only where a fit reads it);
- ``rel_best_share``, ``rel_gain_per_token``: the sentence's value minus its answer's mean (``with_answer``): an
  answer in heavy paraphrase lowers every sentence's share and gain, and the fit that reads the judge transfers
  better across families on the difference (``benchmarks/transfer.md``);

and, not a feature, ``chunk_words``, the chunks' mean length in words, which chooses the fit (``ByChunkLength``).

A logistic regression over standardised features (``fit_logistic``) turns them into ``support`` in [0, 1]
(``benchmarks/fit_support.py``, the commands and numbers in ``benchmarks/support-studies.md``); each named
model's fits are data, ``rag_attrib/calibration/<model>.json``. The features shift with the chunks' length:
where chunks are one or two sentences, the instructions and the question take a larger part of the relevance, and a paraphrase of a short chunk gains less log-probability than one of a paragraph. So a
model's support is two fits (``ByChunkLength``): one on short invented chunks (``short-dev``), one on paragraphs
of real documentation (``realistic-dev``), each used on prompts whose chunks are like its own, and mixed between;
or, where no fit beats the best share on short chunks (SmolLM2), the realistic fit alone on paragraphs.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .types import Chunk, Citation, Conflict, Span

# What Attributor calls: a sentence's signals (``features``' input, and ``chunk_words``) -> P(some chunk carries it),
# or None to leave the decision to the shares. A SupportModel, a ByChunkLength of two, or any callable.
Support = Callable[[Mapping[str, Any]], float | None]

FEATURES = ("best_share", "grounding", "gain_per_token", "drop_per_token", "lp_per_token")
# How far a sentence's signal is from its answer's mean: the same answer written closely or in heavy paraphrase
# shifts every sentence's share and gain together, the difference between its sentences stays (with_answer).
RELATIVE = ("best_share", "gain_per_token")


def features(signals: Mapping[str, Any]) -> dict[str, float]:
    """The support features of one sentence from its raw signals: ``shares`` (every chunk's), ``grounding``,
    ``tokens`` (its length in tokens), its log-probabilities ``lp_all``, ``lp_none``, ``lp_without_tops``,
    ``judge`` where it was asked for (``reads``), and ``rel_<name>`` where ``with_answer`` gave the answer's means."""
    tokens = max(int(signals["tokens"]), 1)
    row = {
        "best_share": max(signals["shares"], default=0.0),
        "grounding": float(signals["grounding"]),
        "gain_per_token": (signals["lp_all"] - signals["lp_none"]) / tokens,
        "drop_per_token": (signals["lp_all"] - signals["lp_without_tops"]) / tokens,
        "lp_per_token": signals["lp_all"] / tokens,
        **({"judge": float(signals["judge"])} if "judge" in signals else {}),
    }
    means = signals.get("answer_means") or {}
    return {**row, **{f"rel_{name}": row[name] - means[name] for name in RELATIVE if name in means}}


def with_answer(answer: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The signals of one answer's sentences, each with ``answer_means``: the mean over the answer of each
    ``RELATIVE`` feature, from which ``features`` gives ``rel_<name>``."""
    rows = [features(signals) for signals in answer]
    means = {name: sum(row[name] for row in rows) / len(rows) for name in RELATIVE} if rows else {}
    return [{**signals, "answer_means": means} for signals in answer]


def with_answers(rows: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """``with_answer`` over the rows of several answers (a study's dump), each answer's rows found by ``row[key]``;
    the rows keep their order."""
    answers: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        answers.setdefault(row[key], []).append(row)
    done = {id(old): new for answer in answers.values() for old, new in zip(answer, with_answer(answer))}
    return [done[id(row)] for row in rows]


def reads(support: Support | None, name: str, chunk_words: float | None = None) -> bool:
    """Whether ``support`` reads the signal ``name`` on chunks of this mean length (None: of any length): a fit (or
    any callable) whose ``names`` hold it, a ``ByChunkLength`` whose deciding fit's do. A signal that costs a
    model pass is computed only where it is named, so a callable without ``names`` is not given it."""
    if isinstance(support, ByChunkLength):
        fits = [support.short, support.long] if chunk_words is None else support.deciding(chunk_words)
    else:
        fits = [support]
    return any(name in getattr(fit, "names", ()) for fit in fits)


@dataclass(frozen=True)
class SupportModel:
    """``support = sigmoid(bias + sum(weight * (feature - mean) / scale))``."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def logit(self, x: Tensor) -> Tensor:
        """``x``: ``[n, len(names)]`` feature rows -> the log-odds of support ``[n]``."""
        z = (x.double() - torch.tensor(self.means, dtype=torch.float64)) / torch.tensor(self.scales, dtype=torch.float64)
        return z @ torch.tensor(self.weights, dtype=torch.float64) + self.bias

    def probability(self, x: Tensor) -> Tensor:
        """``x``: ``[n, len(names)]`` feature rows -> support probabilities ``[n]``."""
        return torch.sigmoid(self.logit(x))

    def signals_logit(self, signals: Mapping[str, Any]) -> float:
        row = features(signals)
        return float(self.logit(torch.tensor([[row[n] for n in self.names]], dtype=torch.float64))[0])

    def __call__(self, signals: Mapping[str, Any]) -> float:
        return sigmoid(self.signals_logit(signals))

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "weights": list(self.weights), "bias": self.bias,
                "means": list(self.means), "scales": list(self.scales)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SupportModel:
        return cls(tuple(d["names"]), tuple(d["weights"]), d["bias"], tuple(d["means"]), tuple(d["scales"]))


@dataclass(frozen=True)
class ByChunkLength:
    """Two fits, each used on prompts whose chunks are as long as those of its dev set: ``short`` where the
    chunks average at most ``short_words`` words, ``long`` from ``long_words`` on. In the gap between, where
    neither was fitted, their log-odds are mixed, the weight of ``long`` rising linearly in log(words).
    ``short=None``: no fit beat the best share on short chunks, so the shares decide (support None) wherever
    ``long`` was not fitted, below ``long_words``."""

    short: SupportModel | None
    long: SupportModel
    short_words: float
    long_words: float

    def __post_init__(self) -> None:
        if not 0 < self.short_words <= self.long_words:
            raise ValueError(f"ByChunkLength needs 0 < short_words <= long_words, got {self.short_words} and "
                             f"{self.long_words}")

    def long_weight(self, words: float) -> float:
        """0 up to ``short_words``, 1 from ``long_words`` on, linear in log(words) between."""
        if words <= self.short_words:
            return 0.0
        if words >= self.long_words:
            return 1.0
        return math.log(words / self.short_words) / math.log(self.long_words / self.short_words)

    def deciding(self, chunk_words: float) -> list[SupportModel]:
        """The fits whose log-odds count on chunks of this mean length."""
        if not self.decides(chunk_words):
            return []
        w = self.long_weight(chunk_words)
        return [fit for fit, weight in ((self.short, 1 - w), (self.long, w)) if weight > 0]

    def decides(self, chunk_words: float) -> bool:
        """Whether a fit decides on chunks of this mean length (else the shares do, and its passes are saved)."""
        return self.short is not None or chunk_words >= self.long_words

    def __call__(self, signals: Mapping[str, Any]) -> float | None:
        if "chunk_words" not in signals:
            raise KeyError("ByChunkLength chooses its fit by signals['chunk_words'], the chunks' mean length in "
                           "words (Attributor passes it); add it, or call one of its fits directly")
        if not self.decides(signals["chunk_words"]):
            return None
        w = self.long_weight(signals["chunk_words"])  # 1 wherever a ByChunkLength without ``short`` decides
        if w in (0.0, 1.0):
            return (self.long if w else self.short)(signals)
        return sigmoid((1 - w) * self.short.signals_logit(signals) + w * self.long.signals_logit(signals))


def sigmoid(z: float) -> float:
    """The logistic function of one log-odds, without overflow at any magnitude."""
    return 0.5 * (1 + math.tanh(z / 2))


def mean_words(texts: Sequence[str]) -> float:
    """The texts' mean length in whitespace-separated words (the same for every tokenizer)."""
    return sum(len(t.split()) for t in texts) / max(len(texts), 1)


def fit_logistic(x: Tensor, y: Tensor, names: Sequence[str], l2: float = 1.0, steps: int = 50) -> SupportModel:
    """L2-regularised logistic regression by Newton's method on standardised features (no bias penalty)."""
    x, y = x.double(), y.double()
    means = x.mean(0)
    scales = x.std(0, unbiased=False).clamp(min=1e-12)
    z = torch.cat([(x - means) / scales, torch.ones(len(x), 1, dtype=torch.float64)], 1)
    w = torch.zeros(z.shape[1], dtype=torch.float64)
    penalty = torch.full((z.shape[1],), l2, dtype=torch.float64)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = torch.sigmoid(z @ w)
        grad = z.T @ (p - y) + penalty * w
        hessian = (z.T * (p * (1 - p))) @ z + torch.diag(penalty) + 1e-9 * torch.eye(len(w), dtype=torch.float64)
        step = torch.linalg.solve(hessian, grad)
        w = w - step
        if float(step.abs().max()) < 1e-10:
            break
    return SupportModel(tuple(names), tuple(float(v) for v in w[:-1]), float(w[-1]),
                        tuple(float(v) for v in means), tuple(float(v) for v in scales))


def without_chunks(text: str, spans: Sequence[Any], remove: Sequence[int]) -> str:
    """The prompt text with the chunks ``remove`` (indices into ``spans``) cut out."""
    cut = sorted((spans[i] for i in set(remove)), key=lambda span: span.start)
    out, pos = [], 0
    for span in cut:
        out.append(text[pos : span.start])
        pos = span.end
    return "".join(out) + text[pos:]


# ----------------------------------------------------------------------------------------- contradictions

# Number words a sentence may write for a number its passage writes in digits ("one" is left out: a pronoun as often).
_NUMBER_WORDS = {w: str(n) for n, w in enumerate(["zero", "", "two", "three", "four", "five", "six", "seven", "eight",
                                                  "nine", "ten", "eleven", "twelve"]) if w}
_NUMBER_WORDS |= {w: str(10 * n) for n, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy",
                                                        "eighty", "ninety"], 2)}
_SLOTS = {
    "number": re.compile(r"(?<![\w.:-])\d+(?:[.,:]\d+)*(?![\w-])|(?<![\w-])(?:" + "|".join(_NUMBER_WORDS)
                         + r")(?![\w-])", re.IGNORECASE),
    "flag": re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*"),
    "state": re.compile(r"\b(?:true|false|enabled|disabled)\b", re.IGNORECASE),
    # dotted or scoped names (app.config, std::move), snake_case names, calls (weekday()); not "e.g" or "i.e"
    "code": re.compile(r"\b[A-Za-z_]\w+(?:(?:\.|::)[A-Za-z_]\w+)+|\b[a-z]+_\w+\b|\b\w+(?=\()"),
}
# Words of technical prose that come in opposite pairs: one stated where the passage says the other. Only pairs
# whose words a paraphrase does not trade (first/last, before/after, client/server are left out).
_OPPOSITES = [("minimum", "maximum"), ("min", "max"), ("lowercase", "uppercase"), ("public", "private"),
              ("synchronous", "asynchronous"), ("enable", "disable"), ("allow", "deny"), ("include", "exclude"),
              ("inclusive", "exclusive"), ("increase", "decrease"), ("ascending", "descending"),
              ("static", "dynamic"), ("static", "shared")]
_WORD = re.compile(r"[a-z]+")


def _number(text: str) -> str:
    """One spelling per number: digits of any script, no thousands separators, no trailing zero decimals."""
    text = _NUMBER_WORDS.get(text, text)
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        text = text.replace(",", "")
    text = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text).replace(":", ".")
    return re.sub(r"\.0+$", "", text)


def slots(text: str) -> dict[str, set[str]]:
    """The values a sentence can get wrong, by kind: numbers (digits or words), flags, on/off states and code
    names, each lower-cased and spelled one way."""
    out = {kind: {m.group().lower() for m in pattern.finditer(text)} for kind, pattern in _SLOTS.items()}
    out["number"] = {_number(n) for n in out["number"]}
    return out


def _opposed(sentence: str, evidence: str) -> bool:
    """The sentence uses one word of an opposite pair where the passage uses the other, and not both."""
    said, shown = set(_WORD.findall(sentence.lower())), set(_WORD.findall(evidence.lower()))
    return any((a in said and b in shown and b not in said and a not in shown)
               or (b in said and a in shown and a not in said and b not in shown) for a, b in _OPPOSITES)


def typed_conflict(sentence: str, evidence: str, known: str) -> tuple[str, ...]:
    """The kinds of value in which ``sentence`` differs from its evidence passage: it states a value of a kind
    that ``known`` (its chunk, the question, the other chunks that carry it) never mentions, where the evidence
    states another of that kind the sentence leaves out (``"number"``: 30 days where the chunk says 90;
    ``"flag"``, ``"state"``, ``"code"``), and ``"opposite"``: one word of an opposite pair where the passage has
    the other (maximum for minimum). Negation is left out: on the dev sets a paraphrase adds or drops a "not" as
    often as a contradiction does."""
    said, shown, seen = slots(sentence), slots(evidence), slots(known)
    kinds = tuple(k for k in _SLOTS if said[k] - seen[k] and shown[k] - said[k])
    return kinds + (("opposite",) if _opposed(sentence, evidence) else ())


def contradiction(sentence: str, top: Citation, chunk: Chunk, known: str = "") -> Conflict | None:
    """Where a sentence's top chunk says otherwise: the chunk's best evidence passage, if the sentence differs from
    it in a value (``typed_conflict``; ``known``: more text whose values are no conflict, such as the question);
    None where it does not."""
    span = top.evidence[0].span if top.evidence else Span(0, len(chunk.text))
    kinds = typed_conflict(sentence, span.of(chunk.text), f"{chunk.text}\n{known}")
    return Conflict(chunk.id, span, kinds) if kinds else None
