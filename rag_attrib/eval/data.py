"""Evaluation data: RAG cases with a gold supporting chunk (or none) for every answer sentence.

One JSON object per line::

    {"id": "velmora-bridge",
     "question": "When was the Velmora bridge opened, and who designed it?",
     "chunks": [{"id": "bridge", "text": "..."}, {"id": "market", "text": "..."}, ...],
     "answer": [{"text": "The Kestrel Bridge opened in 1911.", "gold": "bridge"},
                {"text": "It won a design prize.", "gold": null}]}

The sentences are attributed exactly as given, so every gold label lines up with one attributed sentence.
The optional labels (evidence spans, kinds of unsupported sentence, splits, styles) and the shipped sets:
docs/eval-data.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from ..errors import EvalDataError
from ..types import Chunk, Span, as_chunks

SHIPPED = {"fictional": "fictional_rag.jsonl", "paraphrase": "paraphrase_rag.jsonl", "short-dev": "short_dev.jsonl"}
# A set made of every file of a pattern, one split of it: the realistic set and the documentation families.
SPLIT_SETS = {"realistic-dev": ("realistic_*.jsonl", "dev"), "realistic-test": ("realistic_*.jsonl", "test"),
              "families-dev": ("families_*.jsonl", "dev"), "families-test": ("families_*.jsonl", "test")}
UNSUPPORTED_KINDS = ("invented", "contradiction", "general")
CONTRADICTIONS = ("number", "default", "option", "negation", "version", "entity")
STYLES = ("copy", "paraphrase", "close", "moderate", "heavy", "hedged", "list", "joined")
# The realistic sets label no family: their case ids start with one.
FAMILY_OF_PREFIX = {"pg": "postgresql", "git": "git", "dj": "django", "dh": "debian-handbook"}


def family_of(case_id: str, family: str | None = None) -> str | None:
    """The documentation family of a case: its own label (``EvalCase.family``), else its id's prefix."""
    return family or FAMILY_OF_PREFIX.get(case_id.split("-")[0])


@dataclass(frozen=True)
class EvalSentence:
    text: str
    gold: tuple[str, ...]  # chunk ids that support the sentence; empty: unsupported
    evidence: dict[str, tuple[Span, ...]] | None = None  # gold chunk id -> spans in its text; None: unlabelled
    kind: str | None = None  # how an unsupported sentence is unsupported (UNSUPPORTED_KINDS); None: unlabelled
    contradiction: str | None = None  # how a contradiction contradicts (CONTRADICTIONS); None: unlabelled
    conflicts_with: dict[str, tuple[Span, ...]] | None = None  # chunk id -> the spans a contradiction conflicts with

    @property
    def supported(self) -> bool:
        return bool(self.gold)


@dataclass(frozen=True)
class EvalCase:
    id: str
    question: str
    chunks: tuple[Chunk, ...]
    sentences: tuple[EvalSentence, ...]
    source: str = ""
    split: str | None = None  # "dev" or "test" where the set is split
    style: str | None = None  # how the answer is written (STYLES)
    family: str | None = None  # the documentation the chunks were cut from
    answer_text: str | None = None  # the answer as printed, where it is more than the sentences joined by spaces

    @property
    def answer(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def spans(self) -> list[Span]:
        """Character span of each sentence in ``answer``."""
        spans, pos = [], 0
        for s in self.sentences:
            spans.append(Span(pos, pos + len(s.text)))
            pos += len(s.text) + 1
        return spans

    def gold_indices(self, sentence: int) -> list[int]:
        """Indices (into ``chunks``) of the chunks supporting sentence ``sentence``; empty if unsupported."""
        ids = [c.id for c in self.chunks]
        return [ids.index(g) for g in self.sentences[sentence].gold]


def shipped_path(name: str = "fictional") -> Path:
    if name not in SHIPPED:
        raise EvalDataError(f"no shipped data set {name!r}; shipped: {shipped_names()}")
    return _data_dir() / SHIPPED[name]


def shipped_names() -> list[str]:
    return sorted(SHIPPED) + sorted(SPLIT_SETS)


def _data_dir() -> Path:
    return Path(str(resources.files(__package__).joinpath("data")))


def load_cases(path: str | Path | None = None, limit: int | None = None) -> list[EvalCase]:
    """Read cases from a JSONL file, or a shipped set by name (default: ``"fictional"``)."""
    name = str(path or "fictional")
    if name in SPLIT_SETS:
        pattern, split = SPLIT_SETS[name]
        files = sorted(_data_dir().glob(pattern))
        if not files:
            raise EvalDataError(f"no {pattern} in {_data_dir()}; reinstall rag-attrib")
        cases = [c for f in files for c in _read_cases(f, name) if c.split == split]
        return _checked(cases[:limit] if limit is not None else cases, name)
    if name in SHIPPED:
        return _checked(_read_cases(shipped_path(name), name, limit), name)
    return _checked(_read_cases(Path(path), Path(path).name, limit), str(path))


def _read_cases(path: Path, source: str, limit: int | None = None) -> list[EvalCase]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalDataError(
            f"evaluation data {str(path)!r} does not exist; pass a JSONL file or one of {shipped_names()}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise EvalDataError(f"cannot read evaluation data {str(path)!r}: {err}") from None
    cases = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            cases.append(parse_case(json.loads(line), source))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise EvalDataError(f"{str(path)!r} line {n}: {err}") from None
        if limit is not None and len(cases) >= limit:
            break
    return cases


def _checked(cases: list[EvalCase], where: str) -> list[EvalCase]:
    if not cases:
        raise EvalDataError(f"{where!r} holds no cases")
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise EvalDataError(f"{where!r}: case ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return cases


def parse_case(record: dict, source: str = "") -> EvalCase:
    if not isinstance(record, dict):
        raise TypeError(f"a case is a JSON object, got {type(record).__name__}")
    missing = [k for k in ("id", "question", "chunks", "answer") if k not in record]
    if missing:
        raise KeyError(f"case is missing {missing}")
    chunks = as_chunks(record["chunks"])
    texts = {c.id: c.text for c in chunks}
    answer = record["answer"]
    if not isinstance(answer, list) or not answer:
        raise ValueError('"answer" must be a non-empty list of {"text": ..., "gold": chunk id | [ids] | null}')
    split = record.get("split")
    if split not in (None, "dev", "test"):
        raise ValueError(f'"split" must be "dev" or "test", got {split!r}')
    sentences = []
    for s in answer:
        text, gold = s["text"], s.get("gold")
        if not isinstance(text, str) or not text.strip() or text != text.strip():
            raise ValueError(f"sentence {text!r} must be a non-empty string without surrounding whitespace")
        gold = () if gold is None else (gold,) if isinstance(gold, str) else tuple(gold)
        unknown = [g for g in gold if g not in texts]
        if unknown:
            raise ValueError(f"gold {unknown} of sentence {text!r} names no chunk; chunk ids: {sorted(texts)}")
        kind = s.get("kind")
        if kind is not None and (gold or kind not in UNSUPPORTED_KINDS):
            raise ValueError(f"sentence {text!r}: \"kind\" labels unsupported sentences only, one of "
                             f"{UNSUPPORTED_KINDS}; got {kind!r}")
        contradiction = s.get("contradiction")
        if contradiction is not None and (kind != "contradiction" or contradiction not in CONTRADICTIONS):
            raise ValueError(f"sentence {text!r}: \"contradiction\" labels contradictions only, one of "
                             f"{CONTRADICTIONS}; got {contradiction!r} on a sentence of kind {kind!r}")
        evidence = _spans(s, "evidence", text, texts, gold)
        if s.get("conflicts_with") is not None and kind != "contradiction":
            raise ValueError(f"sentence {text!r}: \"conflicts_with\" labels contradictions only (\"kind\": "
                             f"\"contradiction\"); this one is of kind {kind!r}")
        conflicts = _spans(s, "conflicts_with", text, texts, texts)
        sentences.append(EvalSentence(text, gold, evidence, kind, contradiction, conflicts))
    style = record.get("style")
    if style not in (None, *STYLES):
        raise ValueError(f'"style" must be one of {STYLES}, got {style!r}')
    answer_text = record.get("answer_text")
    if answer_text is not None:
        _check_answer_text(answer_text, [s.text for s in sentences])
    family = record.get("family")
    if family is not None and not isinstance(family, str):
        raise TypeError(f'"family" must be a string (the documentation the chunks come from), got {family!r}')
    return EvalCase(str(record["id"]), str(record["question"]), chunks, tuple(sentences), source, split, style,
                    family, answer_text)


def _spans(sentence: dict, key: str, text: str, texts: dict[str, str], allowed) -> dict[str, tuple[Span, ...]] | None:
    """A sentence's ``key`` label (chunk id -> [[start, end], ...]), checked to lie in chunks it may name."""
    if sentence.get(key) is None:
        return None
    out = {}
    for chunk_id, spans in sentence[key].items():
        if chunk_id not in allowed:
            raise ValueError(f"sentence {text!r}: {key} in {chunk_id!r}, which it may not name (allowed: "
                             f"{sorted(allowed)})")
        out[chunk_id] = tuple(Span(*span) for span in spans)
        if not out[chunk_id] or any(sp.end > len(texts[chunk_id]) or sp.start >= sp.end for sp in out[chunk_id]):
            raise ValueError(f"sentence {text!r}: {key} spans {spans} do not lie in chunk {chunk_id!r}")
    return out


def _check_answer_text(answer_text: object, sentences: list[str]) -> None:
    if not isinstance(answer_text, str):
        raise TypeError(f'"answer_text" must be a string, got {type(answer_text).__name__}')
    sentence_spans_in(answer_text, sentences)


def sentence_spans_in(printed: str, sentences: Sequence[str]) -> list[Span]:
    """Where each sentence is in the printed answer, verbatim and after the ones before it; ValueError naming the
    first that is not."""
    spans, pos = [], 0
    for text in sentences:
        found = printed.find(text, pos)
        if found < 0:
            raise ValueError(f'"answer_text" does not hold the sentence {text!r} (verbatim, after the ones before it)')
        spans.append(Span(found, found + len(text)))
        pos = found + len(text)
    return spans


def load_many(paths: Sequence[str | Path] | None, limit: int | None = None) -> list[EvalCase]:
    """Cases from several files (or shipped names), in order; ``limit`` applies to each of them.

    Without paths: every shipped set (the realistic set and the documentation families by their dev splits
    only: their test splits are asked for by name, ``realistic-test``, ``families-test``).
    """
    dev = [name for name, (pattern, split) in SPLIT_SETS.items() if split == "dev" and any(_data_dir().glob(pattern))]
    given = [str(p) for p in paths or [*SHIPPED, *dev]]
    keys = [p if p in SHIPPED or p in SPLIT_SETS else str(Path(p).resolve()) for p in given]
    twice = sorted({p for p, key in zip(given, keys) if keys.count(key) > 1})
    if twice:
        raise EvalDataError(f"{', '.join(map(repr, twice))} name one data set more than once; give each once")
    loaded = [load_cases(p, limit) for p in given]
    names = [part[0].source for part in loaded]
    cases: list[EvalCase] = []
    for p, name, part in zip(given, names, loaded):
        # files of one name in other folders: each named by its path, so each keeps its own table and answers
        cases += [replace(c, source=p) for c in part] if names.count(name) > 1 else part
    return cases
