"""Build rag_attrib/eval/data/realistic_django_debian.jsonl: 40 RAG cases cut from installed Debian docs.

Chunks are verbatim runs of ``document_text(path)`` (rag_attrib.eval.provenance) of files installed by
``python-django-doc`` and ``debian-handbook``. A chunk is given by a start phrase (the start of a sentence):
it runs from there over whole sentences until it holds at least ``MIN_WORDS`` words (or up to an explicit
end phrase), like a sentence-aware RAG text splitter. Evidence is given as the start of a chunk sentence and
widened to that whole sentence; spans are computed with ``str.index``. Answers were written by hand (an AI
model), paraphrasing the chunks. Chunk order: a fixed per-case shuffle, then the first gold chunk is placed
at a first / middle / last position in turn (case order), so gold positions are spread evenly.
The split alternates dev / test in writing order. Deterministic: run it and the same file comes out.

    PYTHONPATH=. python benchmarks/realistic/build_django_debian.py            # write the file, print statistics
    PYTHONPATH=. python benchmarks/realistic/build_django_debian.py CASE_ID ...  # print a case's chunks for review

It reads the installed HTML files, so it needs the two packages at the versions in SOURCES.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from rag_attrib.eval.provenance import document_text

OUT = Path(__file__).resolve().parents[2] / "rag_attrib" / "eval" / "data" / "realistic_django_debian.jsonl"
MIN_WORDS = 100  # an automatically extended chunk stops at the first sentence end past this many words
WORDS_RANGE = (80, 250)  # every chunk, also those with an explicit end phrase

DJ_DIR = "/usr/share/doc/python-django-doc/html/"
DH_DIR = "/usr/share/doc/debian-handbook/html/en-US/"
SOURCES = {
    DJ_DIR: {"package": "python-django-doc", "package_version": "3:3.2.25-0+deb12u7", "license": "BSD-3-Clause"},
    DH_DIR: {"package": "debian-handbook", "package_version": "11.20220922",
             "license": "GPL-2.0-or-later OR CC-BY-SA-3.0"},
}

# a sentence ends at . ! ? (optionally followed by a closing quote or bracket) before a space and a capital
_END = re.compile(r"[.!?][\"”’)]?(?= [A-Z“‘\"(\[]|$)")


_NUMBER = re.compile(r"(?:^|\s)\d+(?:\.\d+)*\.$")  # "6.1.2." or "11." of a section heading: no sentence end


_BEFORE_HEADING = re.compile(r"[.!?][\"”’)]?(?= \d+(?:\.\d+)+\. )")  # a sentence end before a numbered heading


def _ends(text: str, start: int):
    for m in _END.finditer(text, start):
        if not _NUMBER.search(text[max(0, m.end() - 20):m.end()]):
            yield m


def _meta(path: str) -> dict:
    for prefix, meta in SOURCES.items():
        if path.startswith(prefix):
            return {**meta, "path": path}
    raise ValueError(path)


def cut(path: str, start: str, end: str | None = None, min_words: int = MIN_WORDS) -> tuple[int, int]:
    """(start, end) offsets in document_text(path) of the chunk beginning with ``start``."""
    text = document_text(path)
    if text.count(start) != 1:
        raise ValueError(f"start phrase found {text.count(start)} times in {path}: {start!r}")
    s = text.index(start)
    if end is not None:
        e = text.index(end, s) + len(end)
        if text.count(end, s) < 1 or not end.rstrip("\"”’)").endswith((".", "!", "?")):
            raise ValueError(f"bad end phrase {end!r}")
        return s, e
    for m in _ends(text, s):
        if len(text[s:m.end()].split()) >= min_words:
            return s, m.end()
    raise ValueError(f"no sentence end after {start!r}")


def sentence_span(chunk: str, prefix: str | tuple[str, str]) -> tuple[int, int]:
    """Span of the whole chunk sentence beginning with ``prefix``; a (start, end) pair: from start to end
    (a sentence that runs into a code example, where the next full stop lies beyond the claim)."""
    if isinstance(prefix, tuple):
        s = chunk.index(prefix[0])
        return s, chunk.index(prefix[1], s) + len(prefix[1])
    if chunk.count(prefix) != 1:
        raise ValueError(f"evidence prefix found {chunk.count(prefix)} times: {prefix!r}")
    s = chunk.index(prefix)
    m = next(_ends(chunk, s + len(prefix) - 1), None)
    e = m.end() if m else len(chunk)
    heading = _BEFORE_HEADING.search(chunk, s + len(prefix) - 1, e)  # "... value. 6.9.5. The Miracle ..."
    return s, heading.end() if heading else e


def case_list():
    """The case definitions, in writing order; each module holds a CASES list of ``case(...)`` dicts."""
    from benchmarks.realistic import cases_debian, cases_django

    return cases_django.CASES + cases_debian.CASES


def case(id: str, q: str, chunks: list, answer: list, path: str | None = None) -> dict:
    """chunks: start phrases or (start, end) pairs in ``path``, or (path, start[, end]), in any order.

    answer: (text, gold, evidence): gold is None (then evidence is the unsupported kind), a chunk index
    or a list of two; evidence is a sentence prefix per gold chunk (a list of prefixes for several sentences).
    """
    return {"id": id, "q": q, "chunks": chunks, "answer": answer, "path": path}


def build(spec: dict, number: int) -> dict:
    chunks = []
    for c in spec["chunks"]:
        c = (c,) if isinstance(c, str) else tuple(c)
        c = c if c[0].endswith(".html") else (spec["path"], *c)
        path = c[0] if c[0].startswith("/") else (DJ_DIR if spec["id"].startswith("dj-") else DH_DIR) + c[0]
        s, e = cut(path, *c[1:])
        chunks.append({"path": path, "span": (s, e), "text": document_text(path)[s:e]})
    # chunks of one file must not overlap (a shared sentence would make two chunks gold)
    for i, a in enumerate(chunks):
        for b in chunks[i + 1:]:
            if a["path"] == b["path"] and a["span"][0] < b["span"][1] and b["span"][0] < a["span"][1]:
                raise ValueError(f"{spec['id']}: chunks overlap: {a['text'][:40]!r} / {b['text'][:40]!r}")
    answer = []
    for text, gold, ev in spec["answer"]:
        if gold is None:
            answer.append({"text": text, "gold": None, "kind": ev})
            continue
        golds = [gold] if isinstance(gold, int) else list(gold)
        evs = [ev] if len(golds) == 1 else list(ev)
        evidence = {}
        for g, e in zip(golds, evs, strict=True):
            prefixes = [e] if isinstance(e, (str, tuple)) else e
            evidence[g] = [sentence_span(chunks[g]["text"], p) for p in prefixes]
        answer.append({"text": text, "gold": golds, "evidence": evidence})
    # order: a fixed shuffle, then the first gold chunk goes to a first / middle / last position in turn
    n = len(chunks)
    order = list(range(n))
    random.Random(spec["id"]).shuffle(order)
    first_gold = next(a["gold"][0] for a in answer if a["gold"])
    bucket = number % 3
    rng = random.Random(spec["id"] + "/pos")
    lo, hi = [(0, n // 3 - 1), (-(-n // 3), -(-2 * n // 3) - 1), (-(-2 * n // 3), n - 1)][bucket]
    target = rng.randint(lo, max(lo, hi))
    order.remove(first_gold)
    order.insert(target, first_gold)
    ids = {old: f"c{new + 1}" for new, old in enumerate(order)}
    out_chunks = [{"id": ids[i], "text": chunks[i]["text"], "metadata": _meta(chunks[i]["path"])} for i in order]
    out_answer = []
    for a in answer:
        if a["gold"] is None:
            out_answer.append(a)
            continue
        gold = [ids[g] for g in a["gold"]]
        out_answer.append({"text": a["text"], "gold": gold[0] if len(gold) == 1 else gold,
                           "evidence": {ids[g]: [list(s) for s in a["evidence"][g]] for g in a["gold"]}})
    return {"id": spec["id"], "split": "dev" if number % 2 == 0 else "test", "question": spec["q"],
            "chunks": out_chunks, "answer": out_answer}


def show(spec: dict) -> None:
    for k, c in enumerate(spec["chunks"]):
        c = (c,) if isinstance(c, str) else tuple(c)
        c = c if c[0].endswith(".html") else (spec["path"], *c)
        path = c[0] if c[0].startswith("/") else (DJ_DIR if spec["id"].startswith("dj-") else DH_DIR) + c[0]
        s, e = cut(path, *c[1:])
        text = document_text(path)[s:e]
        print(f"[{k}] ({len(text.split())} words) {text}\n")


def bucket_of(i: int, n: int) -> str:
    return "first" if 3 * i < n else "last" if 3 * i >= 2 * n else "middle"


def main() -> None:
    if len(sys.argv) > 1:  # review: print the chunks of the named cases in definition order
        for spec in case_list():
            if spec["id"] in sys.argv[1:]:
                show(spec)
        return
    records = [build(spec, k) for k, spec in enumerate(case_list())]
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    stats(records)


def stats(records: list[dict]) -> None:
    from rag_attrib.eval.data import load_cases
    from rag_attrib.eval.provenance import check_provenance

    cases = load_cases(OUT)
    problems = check_provenance(cases)
    print(f"{OUT}: {len(cases)} cases; provenance problems: {problems or 'none'}")
    nchunks = [len(r["chunks"]) for r in records]
    words = [len(c["text"].split()) for r in records for c in r["chunks"]]
    sents = [a for r in records for a in r["answer"]]
    per_case = [len(r["answer"]) for r in records]
    unsupported = [a for a in sents if a["gold"] is None]
    two = [a for a in sents if isinstance(a["gold"], list)]
    print(f"chunks per case {min(nchunks)}-{max(nchunks)} (total {sum(nchunks)}); words per chunk "
          f"{min(words)}-{max(words)} (mean {sum(words) / len(words):.0f})")
    print(f"sentences {len(sents)} ({min(per_case)}-{max(per_case)} per case); unsupported {len(unsupported)} "
          f"({len(unsupported) / len(sents):.0%}) by kind {dict(Counter(a['kind'] for a in unsupported))}; "
          f"two-chunk {len(two)} ({len(two) / len(sents):.0%})")
    hist = Counter()
    for r in records:
        ids = [c["id"] for c in r["chunks"]]
        for a in r["answer"]:
            if a["gold"] is not None:
                for g in [a["gold"]] if isinstance(a["gold"], str) else a["gold"]:
                    hist[bucket_of(ids.index(g), len(ids))] += 1
    print("gold chunk positions (per supported sentence and gold chunk):",
          {k: hist[k] for k in ("first", "middle", "last")})
    print("splits:", dict(Counter((r["split"], r["id"][:2]) for r in records)))
    bad = [(r["id"], c["id"], len(c["text"].split())) for r in records for c in r["chunks"]
           if not WORDS_RANGE[0] <= len(c["text"].split()) <= WORDS_RANGE[1]]
    bad += [(r["id"], "chunks", len(r["chunks"])) for r in records if not 6 <= len(r["chunks"]) <= 10]
    bad += [(r["id"], "sentences", len(r["answer"])) for r in records if not 2 <= len(r["answer"]) <= 4]
    if bad or problems:
        sys.exit(f"out of bounds: {bad}")


if __name__ == "__main__":
    main()
