"""Evaluation data: RAG cases with a gold supporting chunk (or none) for every answer sentence.

One JSON object per line::

    {"id": "velmora-bridge",
     "question": "When was the Velmora bridge opened, and who designed it?",
     "chunks": [{"id": "bridge", "text": "..."}, {"id": "market", "text": "..."}, ...],
     "answer": [{"text": "The Kestrel Bridge opened in 1911.", "gold": "bridge"},
                {"text": "It won a design prize.", "gold": null}]}

The answer is its sentences joined by single spaces, and the sentences are attributed exactly as given (no
automatic split), so every gold label lines up with one attributed sentence. ``gold`` is a chunk id, a list
of chunk ids (any of them counts as a hit), or null for a sentence that no chunk supports.

Two sets are shipped, both about invented places, people and things (so that a model cannot answer from
memory), every case with same-topic distractor chunks (same town, other years and names):

- ``fictional``: answers as a RAG model writes them, close to the wording of their source chunk;
- ``paraphrase``: answers that say the same in other words (the regime where word overlap with the source
  fails), and unsupported sentences that mix names and words from the chunks into claims none of them makes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import RagAttribError
from ..types import Chunk, Span, as_chunks

SHIPPED = {"fictional": "fictional_rag.jsonl", "paraphrase": "paraphrase_rag.jsonl"}


class EvalDataError(RagAttribError, ValueError):
    """An evaluation data file is missing or a record in it is malformed (the message names the line)."""


@dataclass(frozen=True)
class EvalSentence:
    text: str
    gold: tuple[str, ...]  # chunk ids that support the sentence; empty: unsupported

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
        raise EvalDataError(f"no shipped data set {name!r}; shipped: {sorted(SHIPPED)}")
    return Path(str(resources.files(__package__).joinpath("data", SHIPPED[name])))


def load_cases(path: str | Path | None = None, limit: int | None = None) -> list[EvalCase]:
    """Read cases from a JSONL file, or a shipped set by name (default: ``"fictional"``)."""
    if path is None or str(path) in SHIPPED:
        path, source = shipped_path(str(path or "fictional")), str(path or "fictional")
    else:
        source = Path(path).name
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalDataError(
            f"evaluation data {str(path)!r} does not exist; pass a JSONL file or one of {sorted(SHIPPED)}"
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
    if not cases:
        raise EvalDataError(f"{str(path)!r} holds no cases")
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise EvalDataError(f"{str(path)!r}: case ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return cases


def parse_case(record: dict, source: str = "") -> EvalCase:
    if not isinstance(record, dict):
        raise TypeError(f"a case is a JSON object, got {type(record).__name__}")
    missing = [k for k in ("id", "question", "chunks", "answer") if k not in record]
    if missing:
        raise KeyError(f"case is missing {missing}")
    chunks = as_chunks(record["chunks"])
    ids = {c.id for c in chunks}
    answer = record["answer"]
    if not isinstance(answer, list) or not answer:
        raise ValueError('"answer" must be a non-empty list of {"text": ..., "gold": chunk id | [ids] | null}')
    sentences = []
    for s in answer:
        text, gold = s["text"], s.get("gold")
        if not isinstance(text, str) or not text.strip() or text != text.strip():
            raise ValueError(f"sentence {text!r} must be a non-empty string without surrounding whitespace")
        gold = () if gold is None else (gold,) if isinstance(gold, str) else tuple(gold)
        unknown = [g for g in gold if g not in ids]
        if unknown:
            raise ValueError(f"gold {unknown} of sentence {text!r} names no chunk; chunk ids: {sorted(ids)}")
        sentences.append(EvalSentence(text, gold))
    return EvalCase(str(record["id"]), str(record["question"]), chunks, tuple(sentences), source)


def load_many(paths: Sequence[str | Path] | None, limit: int | None = None) -> list[EvalCase]:
    """Cases from several files (or shipped names), in order; ``limit`` applies to each of them.

    Without paths: every shipped set.
    """
    cases: list[EvalCase] = []
    for p in paths or list(SHIPPED):
        cases.extend(load_cases(p, limit))
    return cases
