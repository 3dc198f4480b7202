"""How often the sentence splitter's sentences equal the labelled ones, on answers as LLMs print them.

For every case with a printed answer (``answer_text``: bullets, line breaks), the answer is split as ``verify``
splits it, and each labelled sentence counts as found when one of the splitter's sentences equals it (a list
item's bullet aside). A lead-in line that states nothing ("The main rules:") is no labelled sentence and is not
counted against the splitter. Printed once with the rule for technical openings (code names, flags, paths after
a full stop) and once without it.

    python benchmarks/splitter/measure.py families-dev families-test realistic-dev
"""

from __future__ import annotations

import re
import sys
from unittest import mock

from rag_attrib import text
from rag_attrib.eval import load_many

BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")


def found(cases) -> tuple[int, int, int, int]:
    """(labelled sentences found, labelled sentences, answers split exactly, answers)."""
    hits = total = exact = 0
    for case in cases:
        printed = case.answer_text or case.answer
        pieces = {BULLET.sub("", span.of(printed)) for span in text.split_sentences(printed)}
        labels = [s.text for s in case.sentences]
        hits += sum(label in pieces for label in labels)
        total += len(labels)
        exact += all(label in pieces for label in labels)
    return hits, total, exact, len(cases)


def main() -> None:
    names = sys.argv[1:] or ["families-dev", "families-test"]
    for name in names:
        cases = load_many([name])
        with mock.patch.object(text, "_technical_cuts", lambda _, start, end: [(start, end)]):
            before = found(cases)
        after = found(cases)
        for label, (hits, total, exact, n) in (("without", before), ("with", after)):
            print(f"{name:14} {label:7} technical openings: {hits}/{total} sentences ({hits / total:.1%}), "
                  f"{exact}/{n} answers split as labelled")


if __name__ == "__main__":
    main()
