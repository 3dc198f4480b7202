"""Build rag_attrib/eval/data/realistic_pg_git.jsonl: 40 RAG cases cut from installed Debian documentation.

    PYTHONPATH=. python benchmarks/realistic/build_pg_git.py

Chunks: each case names runs of chunks of installed files (``(file, index)`` into the chunks that
``chunker.chunks`` cuts from ``document_text(file)``: whole sentences, about 120-230 words, as a RAG text
splitter would). The chunks of a case are put in an order drawn by a ``random.Random`` seeded with the case id
(as a retriever's ranking would interleave them), rotated so that the gold chunk of the first supported
sentence falls in the first, middle and last third of the list by turns, then named c1..cN.

Answers: written by hand (by an AI model) as an assistant would answer, paraphrasing the chunks. Each sentence
is supported (gold chunk(s) and the chunk sentence(s) that state it, given by their first words and expanded
here to whole chunk sentences; spans are computed with ``str.index``) or unsupported with a kind
(invented / contradiction / general). Split: by writing order, 1st dev, 2nd test, ...

Deterministic: the same installed files give the same JSONL byte for byte.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

from chunker import chunks as cut_chunks
from chunker import sentences as cut_sentences

from rag_attrib.eval.provenance import check_provenance, document_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "rag_attrib" / "eval" / "data" / "realistic_pg_git.jsonl"

PACKAGES = {
    "pg": {"package": "postgresql-doc-15", "package_version": "15.20-0+deb12u1", "license": "PostgreSQL",
           "dir": "/usr/share/doc/postgresql-doc-15/html/"},
    "git": {"package": "git-doc", "package_version": "1:2.39.5-0+deb12u3", "license": "GPL-2.0-only",
            "dir": "/usr/share/doc/git-doc/"},
}


# ---- definition helpers -------------------------------------------------------------------------------------

def G(file: str, index: int, *evidence: str) -> tuple:
    """A gold chunk: chunk ``index`` of ``file``; ``evidence``: first words of each chunk sentence that states it."""
    return (file, index, evidence)


def S(text: str, *gold: tuple) -> dict:
    return {"text": text, "gold": list(gold)}


def U(text: str, kind: str) -> dict:
    return {"text": text, "gold": None, "kind": kind}


def C(id: str, question: str, sources: list[tuple[str, list[int]]], answer: list[dict]) -> dict:
    return {"id": id, "question": question, "sources": sources, "answer": answer}


# ---- build --------------------------------------------------------------------------------------------------

def _path(pkg: str, file: str) -> str:
    return PACKAGES[pkg]["dir"] + file


_CACHE: dict[str, list[str]] = {}


def chunk_text(path: str, index: int) -> str:
    if path not in _CACHE:
        _CACHE[path] = cut_chunks(document_text(path))
    return _CACHE[path][index]


def evidence_spans(text: str, prefix: str) -> list[int]:
    """Span of the whole chunk sentence that starts with ``prefix`` (it must be unique in the chunk)."""
    starts, pos = [], 0
    for s in cut_sentences(text):
        start = text.index(s, pos)
        pos = start + len(s)
        if s.startswith(prefix):
            starts.append([start, pos])
    if len(starts) != 1:
        raise SystemExit(f"evidence {prefix!r}: {len(starts)} sentences start so in chunk {text[:80]!r}...")
    sentence = text[starts[0][0]:starts[0][1]]
    assert text.index(sentence) == starts[0][0]
    return starts[0]


def _third(j: int, n: int) -> str:
    """Where place j of n lies: relative place j / (n - 1) below 1/3, above 2/3, or between (symmetric)."""
    return "first" if 3 * j < n - 1 else "last" if 3 * j > 2 * (n - 1) else "middle"


def chunk_order(n: int, case: dict) -> list[tuple[str, int]]:
    """The case's ``(file, index)`` chunk keys in the order they are shown: a shuffle seeded with the case id,
    rotated so that the gold chunk of the first supported sentence lands in the first / middle / last third by
    turns (case n: third n % 3), at a drawn place in that third, so that gold chunks spread over the list."""
    keys = [(f, i) for f, idxs in case["sources"] for i in idxs]
    assert len(set(keys)) == len(keys), case["id"]
    order = keys[:]
    rng = random.Random(case["id"])
    rng.shuffle(order)
    first_gold = next(s["gold"][0] for s in case["answer"] if s["gold"])[:2]
    third = [j for j in range(len(order)) if _third(j, len(order)) == ("first", "middle", "last")[n % 3]]
    shift = rng.choice(third) - order.index(first_gold)
    order = [order[(j - shift) % len(order)] for j in range(len(order))]
    assert order.index(first_gold) in third
    return order


def build_case(n: int, pkg: str, case: dict) -> tuple[dict, list[str]]:
    order = chunk_order(n, case)
    ids = {k: f"c{j + 1}" for j, k in enumerate(order)}
    chunks = []
    for k in order:
        path = _path(pkg, k[0])
        meta = {key: PACKAGES[pkg][key] for key in ("package", "package_version", "license")}
        meta["path"] = path
        chunks.append({"id": ids[k], "text": chunk_text(path, k[1]), "metadata": meta})
    texts = {c["id"]: c["text"] for c in chunks}
    answer, positions = [], []
    for s in case["answer"]:
        if s["gold"] is None:
            answer.append({"text": s["text"], "gold": None, "kind": s["kind"]})
            continue
        gold, evidence = [], {}
        for file, index, prefixes in s["gold"]:
            cid = ids[(file, index)]
            gold.append(cid)
            assert prefixes, (case["id"], s["text"])
            evidence[cid] = sorted(evidence_spans(texts[cid], p) for p in prefixes)
            j = order.index((file, index))
            positions.append(_third(j, len(order)))
        answer.append({"text": s["text"], "gold": gold[0] if len(gold) == 1 else gold, "evidence": evidence})
    record = {"id": case["id"], "split": "dev" if n % 2 == 0 else "test", "question": case["question"],
              "chunks": chunks, "answer": answer}
    return record, positions


def main() -> None:
    sys.path.insert(0, str(HERE))
    from cases_git import CASES as GIT
    from cases_pg import CASES as PG

    # writing order: the PostgreSQL cases, then the Git cases, each list in the order it was written
    tagged = [("pg", c) for c in PG] + [("git", c) for c in GIT]
    records, positions = [], []
    for n, (pkg, case) in enumerate(tagged):
        record, pos = build_case(n, pkg, case)
        records.append(record)
        positions.extend(pos)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    report(records, positions)


def report(records: list[dict], positions: list[str]) -> None:
    from rag_attrib.eval.data import load_cases

    cases = load_cases(OUT)
    problems = check_provenance(cases)
    print(f"wrote {OUT} ({len(records)} cases); provenance problems: {problems or 'none'}")
    assert not problems
    n_chunks = [len(r["chunks"]) for r in records]
    words = [len(c["text"].split()) for r in records for c in r["chunks"]]
    sents = [s for r in records for s in r["answer"]]
    per_case = [len(r["answer"]) for r in records]
    unsupported = [s for s in sents if s["gold"] is None]
    two = [s for s in sents if isinstance(s["gold"], list)]
    print(f"cases: {len(records)} ({Counter(r['split'] for r in records)}); "
          f"by package: {Counter(r['chunks'][0]['metadata']['package'] for r in records)}")
    print(f"chunks per case: {min(n_chunks)}-{max(n_chunks)} (total {sum(n_chunks)})")
    print(f"words per chunk: {min(words)}-{max(words)} (mean {sum(words) / len(words):.0f})")
    print(f"sentences: {len(sents)} ({min(per_case)}-{max(per_case)} per case)")
    print(f"unsupported: {len(unsupported)} ({len(unsupported) / len(sents):.0%}) "
          f"by kind {dict(Counter(s['kind'] for s in unsupported))}")
    print(f"two-chunk sentences: {len(two)} ({len(two) / len(sents):.0%})")
    print(f"gold positions (per gold chunk of supported sentences): {dict(Counter(positions))}")
    ok = (all(6 <= n <= 10 for n in n_chunks) and all(80 <= w <= 250 for w in words)
          and all(2 <= n <= 4 for n in per_case) and len(unsupported) >= 0.2 * len(sents)
          and len(two) >= 0.1 * len(sents))
    print("all limits met" if ok else "LIMITS NOT MET")
    for r in records:
        for c in r["chunks"]:
            t = c["text"]
            if not t.endswith((".", ".)")):
                print(f"  note: {r['id']}/{c['id']} does not end with a full stop: ...{t[-40:]!r}")


if __name__ == "__main__":
    main()
