"""Sentence-aligned chunker used to pick chunks for the realistic PostgreSQL/Git set (exploration helper).

    python benchmarks/realistic/chunker.py FILE [FIRST [LAST]]

prints the chunks of FILE (as a RAG text splitter would cut them: whole sentences, about 120 words, at most
230, ending after a full stop) with their index (the index that the case definitions of build_pg_git.py use),
word count and first and last words.
"""

from __future__ import annotations

import re
import sys

from rag_attrib.eval.provenance import document_text

_NO_END = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|No|Sec|Fig)\.|\b[A-Z]\.|\d+\.\d+(?:\.\d+)*\.)$")
_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][)\"”]))\s+(?=[\"'(“]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        piece = text[start:m.start()]
        if _NO_END.search(piece):
            continue
        out.append(piece)
        start = m.end()
    out.append(text[start:])
    return out


def chunks(text: str, target: int = 120, hard_max: int = 230) -> list[str]:
    res, cur, words = [], [], 0
    for s in sentences(text):
        n = len(s.split())
        if cur and words + n > hard_max:
            # close the chunk after its last full stop; the sentences after it start the next chunk
            k = max((i for i, t in enumerate(cur) if t.endswith((".", ".)"))), default=len(cur) - 1)
            res.append(" ".join(cur[:k + 1]))
            cur = cur[k + 1:]
            words = sum(len(t.split()) for t in cur)
        cur.append(s)
        words += n
        if words >= target and s.endswith("."):
            res.append(" ".join(cur))
            cur, words = [], 0
    if cur:
        res.append(" ".join(cur))
    return res


def anchors(chunk: str, k: int = 7) -> tuple[str, str]:
    w = chunk.split()
    return " ".join(w[:k]), " ".join(w[-k:])


if __name__ == "__main__":
    path = sys.argv[1]
    lo = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    hi = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
    for i, c in enumerate(chunks(document_text(path))):
        if lo <= i <= hi:
            print(f"--- [{i}] {len(c.split())}w  anchors={anchors(c)!r}\n{c}\n")
