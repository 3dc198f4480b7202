"""benchmarks/verify_labelled.py: each labelled sentence gets the verdict of the verify sentence holding most of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rag_attrib import verify
from rag_attrib.eval.data import parse_case, sentence_spans_in
from rag_attrib.types import Span

ROOT = Path(__file__).parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("verify_labelled", ROOT / "benchmarks" / "verify_labelled.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASE = {
    "id": "toy", "question": "Who built the tower?", "family": "toys",
    "chunks": [{"id": "tower", "text": "The tower was built by Ada."}, {"id": "mill", "text": "The mill grinds corn."}],
    "answer": [{"text": "Ada built the tower.", "gold": "tower"}, {"text": "dpkg -r removes it", "gold": None,
                                                                     "kind": "invented"},
               {"text": "The mill grinds corn.", "gold": "mill"}],
}


def test_each_labelled_sentence_takes_the_verdict_of_the_verify_sentence_that_holds_it(tiny_attributor):
    script = _script()
    case = parse_case(CASE, "toy")
    verification = verify(tiny_attributor, case.question, case.chunks, case.answer)
    rows = script.records(case, verification)
    assert [r["sentence"] for r in rows] == [0, 1, 2] and {r["family"] for r in rows} == {"toys"}
    spans = sentence_spans_in(case.answer, [s.text for s in case.sentences])
    for r, span in zip(rows, spans):
        a, b = span.start, span.end
        holding = [v for v in verification.sentences if v.span.start < b and a < v.span.end]
        best = max(holding, key=lambda v: min(b, v.span.end) - max(a, v.span.start))
        assert r["verdict"] == best.verdict
        assert r["joined"] == (sum(best.span.start < s.end and s.start < best.span.end for s in spans) > 1)
    assert [r["joined"] for r in rows] == [False, True, True]  # no full stop after "removes it": one verify sentence
    assert rows[1]["verdict"] == rows[2]["verdict"]
    assert sentence_spans_in("A. B. A.", ["A.", "A."]) == [Span(0, 2), Span(6, 8)]  # in order, not the first match
    with pytest.raises(ValueError, match="does not hold the sentence 'C.'"):
        sentence_spans_in("A. B.", ["B.", "C."])
