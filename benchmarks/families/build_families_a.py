"""Build rag_attrib/eval/data/families_a.jsonl: 30 RAG cases from three documentation families.

    PYTHONPATH=. python benchmarks/families/build_families_a.py

Families: the Apache HTTP Server manual (apache2-doc), the HAProxy manuals (haproxy-doc) and the CMake
reference and guides (cmake-doc), 10 cases each (``cases_apache.py``, ``cases_haproxy.py``, ``cases_cmake.py``).

Chunks: ``benchmarks/realistic/chunker.py`` cuts each installed file's visible text (``document_text``) into
whole-sentence chunks of about 110 words, at most 190; a case names chunks by ``(file, index)``. The chunks of
a case are put in the order ``build_pg_git.chunk_order`` draws (seeded with the case id; the gold chunk of the
first supported sentence in the first, middle and last third of the list by turns within each family), then
named c1..cN.

Answers: written by hand (by an AI model) in one of six styles (``STYLES``). Each sentence is supported (gold
chunk(s) and the first words of the chunk sentences that state it, expanded here to whole chunk sentences) or
unsupported with a kind; a contradiction also names its subkind and the chunk sentence it contradicts
(``conflicts_with``, found the same way). ``answer_text`` is the answer as a user's LLM prints it. Split: by
writing order within each family, 1st dev, 2nd test, ...

Deterministic: the same installed files give the same JSONL byte for byte. The checks in ``check`` stop the
build when a case breaks a rule of the set (sizes, styles, labels, verbatim chunks).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "benchmarks" / "realistic")]

from build_pg_git import chunk_order, evidence_spans
from chunker import chunks as cut_chunks

from rag_attrib.eval.data import parse_case
from rag_attrib.eval.provenance import check_provenance, document_text

OUT = ROOT / "rag_attrib" / "eval" / "data" / "families_a.jsonl"

PACKAGES = {
    "apache2": {"package": "apache2-doc", "package_version": "2.4.71-1~deb12u1", "license": "Apache-2.0",
                "dir": "/usr/share/doc/apache2-doc/manual/en/"},
    "haproxy": {"package": "haproxy-doc", "package_version": "2.6.12-1+deb12u4", "license": "GPL-2.0-or-later",
                "dir": "/usr/share/doc/haproxy-doc/"},
    "cmake": {"package": "cmake-doc", "package_version": "3.25.1-1", "license": "BSD-3-Clause",
              "dir": "/usr/share/doc/cmake-doc/html/"},
}
STYLES = ("close", "moderate", "heavy", "hedged", "list", "joined")
CONTRADICTIONS = ("number", "default", "option", "negation", "version", "entity")
CHUNK_TARGET, CHUNK_MAX = 110, 190  # words: the chunker's target and hard maximum
LONGEST_SHARED_RUN = 5  # "heavy" answers share no run of more words than this with any chunk of their case


# ---- definition helpers (used by the cases_*.py files) --------------------------------------------------------

def G(file: str, index: int, *first_words: str) -> tuple:
    """Chunk ``index`` of ``file``; ``first_words``: how each chunk sentence meant begins."""
    return (file, index, first_words)


def S(text: str, *gold: tuple) -> dict:
    """A supported sentence and the chunk(s) that state it."""
    return {"text": text, "gold": list(gold)}


def U(text: str, kind: str) -> dict:
    """An unsupported sentence: ``invented`` detail or true ``general`` knowledge no chunk states."""
    assert kind in ("invented", "general"), kind
    return {"text": text, "gold": None, "kind": kind}


def X(text: str, contradiction: str, *conflicts: tuple) -> dict:
    """An unsupported sentence that states another value than the chunk sentences ``conflicts`` (``G``s)."""
    assert contradiction in CONTRADICTIONS and conflicts, (contradiction, text)
    return {"text": text, "gold": None, "kind": "contradiction", "contradiction": contradiction,
            "conflicts": conflicts}


def C(id: str, style: str, question: str, sources: list[tuple[str, list[int]]], answer: list[dict],
      text: str | None = None) -> dict:
    """A case; ``text``: the printed answer where it is not the default layout of its style."""
    return {"id": id, "style": style, "question": question, "sources": sources, "answer": answer, "text": text}


# ---- build ----------------------------------------------------------------------------------------------------

_CHUNKS: dict[str, list[str]] = {}


def chunk_text(path: str, index: int) -> str:
    if path not in _CHUNKS:
        _CHUNKS[path] = cut_chunks(document_text(path), CHUNK_TARGET, CHUNK_MAX)
    return _CHUNKS[path][index]


def layout(style: str, sentences: list[str]) -> str:
    """The answer as printed: a lead-in line and "- " bullets for lists, else sentences joined by a space."""
    if style == "list":
        return "\n".join([sentences[0], *("- " + s for s in sentences[1:])])
    return " ".join(sentences)


def spans(text: str, first_words: tuple[str, ...]) -> list[list[int]]:
    assert first_words, text[:60]
    return sorted(evidence_spans(text, p) for p in first_words)


def build_case(n: int, family: str, case: dict) -> dict:
    order = chunk_order(n, case)
    ids = {k: f"c{j + 1}" for j, k in enumerate(order)}
    pkg = PACKAGES[family]
    chunks = [{"id": ids[k], "text": chunk_text(pkg["dir"] + k[0], k[1]),
               "metadata": {"package": pkg["package"], "package_version": pkg["package_version"],
                            "license": pkg["license"], "path": pkg["dir"] + k[0]}} for k in order]
    texts = {c["id"]: c["text"] for c in chunks}
    answer = []
    for s in case["answer"]:
        if s["gold"]:
            gold = [ids[(f, i)] for f, i, _ in s["gold"]]
            evidence = {ids[(f, i)]: spans(texts[ids[(f, i)]], p) for f, i, p in s["gold"]}
            answer.append({"text": s["text"], "gold": gold[0] if len(gold) == 1 else gold, "evidence": evidence})
        elif s["kind"] == "contradiction":
            assert all((f, i) in ids for f, i, _ in s["conflicts"]), (case["id"], s["text"], "conflict not in case")
            conflicts = {ids[(f, i)]: spans(texts[ids[(f, i)]], p) for f, i, p in s["conflicts"]}
            answer.append({"text": s["text"], "gold": None, "kind": "contradiction",
                           "contradiction": s["contradiction"], "conflicts_with": conflicts})
        else:
            answer.append({"text": s["text"], "gold": None, "kind": s["kind"]})
    text = case["text"] or layout(case["style"], [s["text"] for s in case["answer"]])
    return {"id": case["id"], "split": "dev" if n % 2 == 0 else "test", "family": family, "style": case["style"],
            "question": case["question"], "chunks": chunks, "answer": answer, "answer_text": text}


def all_cases() -> list[tuple[str, list[dict]]]:
    from cases_apache import CASES as APACHE
    from cases_cmake import CASES as CMAKE
    from cases_haproxy import CASES as HAPROXY

    return [("apache2", APACHE), ("haproxy", HAPROXY), ("cmake", CMAKE)]


def build() -> str:
    """The JSONL text of the set (each family's cases in writing order)."""
    records = [build_case(n, family, case) for family, cases in all_cases() for n, case in enumerate(cases)]
    problems = check(records)
    if problems:
        raise SystemExit("the set breaks its rules:\n  " + "\n  ".join(problems))
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


# ---- checks ---------------------------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def longest_shared_run(answer: str, chunk_texts: list[str]) -> tuple[int, str]:
    """The longest run of consecutive words (case-insensitive) that ``answer`` shares with any chunk."""
    a = words(answer)
    best, where = 0, ""
    for text in chunk_texts:
        c = words(text)
        prev = [0] * (len(c) + 1)
        for i in range(1, len(a) + 1):
            cur = [0] * (len(c) + 1)
            for j in range(1, len(c) + 1):
                if a[i - 1] == c[j - 1]:
                    cur[j] = prev[j - 1] + 1
                    if cur[j] > best:
                        best, where = cur[j], " ".join(a[i - cur[j]:i])
            prev = cur
    return best, where


def text_problems(record: dict) -> list[str]:
    """``answer_text`` holds every labelled sentence verbatim, in order, and nothing else but layout."""
    text, pos, rest = record["answer_text"], 0, []
    for s in record["answer"]:
        at = text.find(s["text"], pos)
        if at < 0:
            return [f"{record['id']}: answer_text lacks (in order) {s['text']!r}"]
        rest.append(text[pos:at])
        pos = at + len(s["text"])
    rest.append(text[pos:])
    if any(r.strip() not in ("", "-") for r in rest):
        return [f"{record['id']}: answer_text holds unlabelled text {[r for r in rest if r.strip() not in ('', '-')]}"]
    return []


def check(records: list[dict]) -> list[str]:
    problems = []
    for r in records:
        rid, texts = r["id"], [c["text"] for c in r["chunks"]]
        n_words = [len(t.split()) for t in texts]
        gold = {g for s in r["answer"] if s["gold"] for g in ([s["gold"]] if isinstance(s["gold"], str) else s["gold"])}
        if not 5 <= len(texts) <= 7 or not all(60 <= n <= 200 for n in n_words):
            problems.append(f"{rid}: {len(texts)} chunks of {n_words} words (5-7 chunks of 60-200 words)")
        if not 3 <= len(r["answer"]) <= 5:
            problems.append(f"{rid}: {len(r['answer'])} sentences (3-5)")
        if len(gold) != 2:
            problems.append(f"{rid}: gold chunks {sorted(gold)} (two per case)")
        if r["style"] not in STYLES:
            problems.append(f"{rid}: style {r['style']!r} is not one of {STYLES}")
        if r["style"] == "heavy":
            run, shared = longest_shared_run(r["answer_text"], texts)
            if run > LONGEST_SHARED_RUN:
                problems.append(f"{rid}: heavy paraphrase shares {run} words with a chunk: {shared!r}")
        problems += text_problems(r)
        try:
            parse_case({**r, "style": None})  # the keys the loader knows, checked by the loader
        except (KeyError, TypeError, ValueError) as err:
            problems.append(f"{rid}: {err}")
    for family in PACKAGES:
        mine = [r for r in records if r["family"] == family]
        sents = [s for r in mine for s in r["answer"]]
        unsupported = [s for s in sents if s["gold"] is None]
        contradictions = [s for s in unsupported if s["kind"] == "contradiction"]
        if len(unsupported) < 0.25 * len(sents) or len(contradictions) < 0.4 * len(unsupported):
            problems.append(f"{family}: {len(unsupported)} of {len(sents)} sentences unsupported, "
                            f"{len(contradictions)} contradictions (at least 25 %, of them at least 40 %)")
        if {r["style"] for r in mine} != set(STYLES):
            problems.append(f"{family}: styles {sorted({r['style'] for r in mine})} lack some of {STYLES}")
        for split in ("dev", "test"):
            styles = {r["style"] for r in mine if r["split"] == split}
            if len(styles) < 4 or sum(r["split"] == split for r in mine) != 5:
                n = sum(r["split"] == split for r in mine)
                problems.append(f"{family} {split}: {n} cases, styles {sorted(styles)} (5 cases, 4 styles or more)")
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        problems.append(f"case ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    cases = [parse_case({**r, "style": None}) for r in records]
    return problems + check_provenance(cases)


# ---- report ---------------------------------------------------------------------------------------------------

def report(records: list[dict]) -> None:
    for family in PACKAGES:
        mine = [r for r in records if r["family"] == family]
        sents = [s for r in mine for s in r["answer"]]
        unsupported = [s for s in sents if s["gold"] is None]
        words_ = [len(c["text"].split()) for r in mine for c in r["chunks"]]
        subkinds = Counter(s["contradiction"] for s in unsupported if "contradiction" in s)
        print(f"{family}: {len(mine)} cases, {sum(len(r['chunks']) for r in mine)} chunks of {min(words_)}-"
              f"{max(words_)} words, {len(sents)} sentences, {len(unsupported)} unsupported "
              f"({len(unsupported) / len(sents):.0%}) {dict(sorted(Counter(s['kind'] for s in unsupported).items()))}, "
              f"contradictions {dict(sorted(subkinds.items()))}, "
              f"two-chunk sentences {sum(isinstance(s['gold'], list) for s in sents)}")
        for split in ("dev", "test"):
            print(f"  {split}: styles {[r['style'] for r in mine if r['split'] == split]}")
    heavy = [longest_shared_run(r["answer_text"], [c["text"] for c in r["chunks"]])[0]
             for r in records if r["style"] == "heavy"]
    print(f"heavy answers: longest run shared with a chunk {heavy}")


def main() -> None:
    text = build()
    OUT.write_text(text, encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    print(f"wrote {OUT} ({len(records)} cases); all checks passed")
    report(records)


if __name__ == "__main__":
    main()
