"""Build rag_attrib/eval/data/families_b.jsonl: 30 RAG cases from three documentation families (issue 28).

    PYTHONPATH=. python benchmarks/families/build_families_b.py

Families: Flask (python-flask-doc), Celery (python-celery-doc) and the Go specification and memory model
(golang-1.19-doc; cargo-doc ships only rustdoc API pages of Cargo's vendored crates, not the Cargo Book).
Chunks are cut by ``benchmarks/realistic/chunker.py`` from ``document_text(file)`` and named by their index,
as in ``build_pg_git.py``, whose helpers for chunk text, evidence spans and list thirds are reused.

Each case has two gold chunks and same-topic distractors (5-7 chunks of 60-200 words), an answer style
(``STYLES``) and an answer written by hand (by an AI model) in that style. Its ``answer_text`` is the answer
as an assistant would print it: the sentences joined by spaces, or for ``list`` a lead-in line and one
``- `` bullet per sentence. Unsupported sentences carry a kind; contradictions also a subkind and the chunk
sentence they contradict (``conflicts_with``, spans computed like evidence). The build checks every label
rule it can (sizes, styles per split, shares of unsupported sentences and contradictions, that a ``heavy``
answer shares no run of more than five words with any chunk of its case) and fails where one is broken.

Split, fixed before anything was measured: within each family, cases alternate by writing order, 1st dev,
2nd test. Deterministic: the same installed files give the same JSONL byte for byte.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "benchmarks" / "realistic"), str(ROOT)]

from build_pg_git import chunk_order, chunk_text, evidence_spans

from rag_attrib.eval.provenance import check_provenance

OUT = ROOT / "rag_attrib" / "eval" / "data" / "families_b.jsonl"

PACKAGES = {
    "flask": {"package": "python-flask-doc", "package_version": "2.2.2-3", "license": "BSD-3-Clause",
              "dir": "/usr/share/doc/python-flask-doc/html/"},
    "celery": {"package": "python-celery-doc", "package_version": "5.2.6-5", "license": "CC-BY-SA-4.0",
               "dir": "/usr/share/doc/python-celery-doc/html/"},
    "golang": {"package": "golang-1.19-doc", "package_version": "1.19.8-2", "license": "BSD-3-Clause",
               "dir": "/usr/share/doc/golang-1.19-doc/html/"},
}
FAMILIES = ("flask", "celery", "golang")  # writing order
STYLES = ("close", "moderate", "heavy", "hedged", "list", "joined")
CONTRADICTIONS = ("number", "default", "option", "negation", "version", "entity")
WORDS = (60, 200)  # words per chunk
CHUNKS = (5, 7)  # chunks per case
SENTENCES = (3, 5)  # sentences per answer
MAX_SHARED_RUN = 5  # a heavy paraphrase shares no longer run of words with any chunk


# ---- definition helpers -------------------------------------------------------------------------------------

def G(file: str, index: int, *starts: str) -> tuple:
    """A chunk sentence reference: chunk ``index`` of ``file``; ``starts``: first words of each sentence meant."""
    return (file, index, starts)


def S(text: str, *gold: tuple) -> dict:
    """A supported sentence and the gold chunk sentences that state it."""
    return {"text": text, "gold": list(gold)}


def U(text: str, kind: str) -> dict:
    """An unsupported sentence: ``invented`` detail or true ``general`` knowledge that no chunk states."""
    assert kind in ("invented", "general"), kind
    return {"text": text, "gold": None, "kind": kind}


def X(text: str, contradiction: str, conflict: tuple) -> dict:
    """An unsupported sentence that restates the chunk sentence ``conflict`` with another value."""
    assert contradiction in CONTRADICTIONS, contradiction
    return {"text": text, "gold": None, "kind": "contradiction", "contradiction": contradiction,
            "conflict": conflict}


def C(id: str, style: str, question: str, sources: list[tuple[str, list[int]]], answer: list[dict],
      lead: str | None = None) -> dict:
    """A case; ``lead`` is the line that opens a ``list`` answer (it makes no claim and carries no label)."""
    assert style in STYLES, (id, style)
    assert (lead is not None) == (style == "list"), (id, "a list answer and only a list answer has a lead-in")
    return {"id": id, "style": style, "question": question, "sources": sources, "answer": answer, "lead": lead}


# ---- build --------------------------------------------------------------------------------------------------

def answer_text(case: dict) -> str:
    texts = [s["text"] for s in case["answer"]]
    if case["style"] == "list":
        return case["lead"] + "\n" + "\n".join("- " + t for t in texts)
    return " ".join(texts)


def spans(texts: dict, ids: dict, pkg: str, refs: list[tuple]) -> dict:
    out = {}
    for file, index, starts in refs:
        cid = ids[(file, index)]
        assert starts, (file, index)
        out[cid] = sorted(evidence_spans(texts[cid], s) for s in starts)
    return out


def build_case(n: int, family: str, case: dict) -> dict:
    meta = {k: PACKAGES[family][k] for k in ("package", "package_version", "license")}
    order = chunk_order(n, case)  # gold of the first supported sentence in the first / middle / last third by turns
    ids = {k: f"c{j + 1}" for j, k in enumerate(order)}
    chunks = []
    for k in order:
        path = PACKAGES[family]["dir"] + k[0]
        chunks.append({"id": ids[k], "text": chunk_text(path, k[1]), "metadata": {**meta, "path": path}})
    texts = {c["id"]: c["text"] for c in chunks}
    answer = []
    for s in case["answer"]:
        if s["gold"]:
            evidence = spans(texts, ids, family, s["gold"])
            gold = list(evidence)
            answer.append({"text": s["text"], "gold": gold[0] if len(gold) == 1 else gold, "evidence": evidence})
        else:
            label = {"text": s["text"], "gold": None, "kind": s["kind"]}
            if s["kind"] == "contradiction":
                label["contradiction"] = s["contradiction"]
                label["conflicts_with"] = spans(texts, ids, family, [s["conflict"]])
            answer.append(label)
    return {"id": case["id"], "split": "dev" if n % 2 == 0 else "test", "family": family, "style": case["style"],
            "question": case["question"], "answer_text": answer_text(case), "chunks": chunks, "answer": answer}


# ---- checks -------------------------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def shared_runs(sentence: str, chunk: str, longer_than: int = MAX_SHARED_RUN) -> list[str]:
    """Runs of more than ``longer_than`` consecutive words that ``sentence`` shares with ``chunk``."""
    n = longer_than + 1
    grams = {tuple(g) for g in zip(*(words(chunk)[i:] for i in range(n)))}
    return [" ".join(g) for g in zip(*(words(sentence)[i:] for i in range(n))) if tuple(g) in grams]


def problems(record: dict) -> list[str]:
    """Every label rule this record breaks (empty: none)."""
    out, rid = [], record["id"]
    chunks, answer = record["chunks"], record["answer"]
    if not CHUNKS[0] <= len(chunks) <= CHUNKS[1]:
        out.append(f"{rid}: {len(chunks)} chunks")
    out += [f"{rid}/{c['id']}: {len(c['text'].split())} words" for c in chunks
            if not WORDS[0] <= len(c["text"].split()) <= WORDS[1]]
    if not SENTENCES[0] <= len(answer) <= SENTENCES[1]:
        out.append(f"{rid}: {len(answer)} sentences")
    gold = {g for s in answer if s["gold"] for g in ([s["gold"]] if isinstance(s["gold"], str) else s["gold"])}
    if len(gold) != 2:
        out.append(f"{rid}: {len(gold)} gold chunks, not 2")
    pos = 0
    for s in answer:
        found = record["answer_text"].find(s["text"], pos)
        if found < 0:
            out.append(f"{rid}: {s['text']!r} is not in answer_text (in order)")
        pos = max(pos, found + len(s["text"]))
        if record["style"] == "heavy":
            for c in chunks:
                runs = shared_runs(s["text"], c["text"])
                if runs:
                    out.append(f"{rid}: heavy sentence {s['text']!r} shares {runs} with {c['id']}")
    return out


def family_problems(family: str, records: list[dict]) -> list[str]:
    out = []
    sents = [s for r in records for s in r["answer"]]
    unsupported = [s for s in sents if s["gold"] is None]
    contradictions = [s for s in unsupported if s["kind"] == "contradiction"]
    if len(unsupported) < 0.25 * len(sents):
        out.append(f"{family}: {len(unsupported)} of {len(sents)} sentences unsupported, under 25 %")
    if len(contradictions) < 0.4 * len(unsupported):
        out.append(f"{family}: {len(contradictions)} of {len(unsupported)} unsupported are contradictions, under 40 %")
    if {r["style"] for r in records} != set(STYLES):
        out.append(f"{family}: styles {sorted({r['style'] for r in records})}, not all of {STYLES}")
    for split in ("dev", "test"):
        styles = {r["style"] for r in records if r["split"] == split}
        if len(styles) < 4:
            out.append(f"{family}/{split}: only styles {sorted(styles)}")
    splits = Counter(r["split"] for r in records)
    if splits != Counter(dev=5, test=5):
        out.append(f"{family}: split {dict(splits)}, not 5 dev + 5 test")
    return out


# ---- main ---------------------------------------------------------------------------------------------------

def load_definitions() -> dict[str, list[dict]]:
    from cases_celery import CASES as CELERY
    from cases_flask import CASES as FLASK
    from cases_golang import CASES as GOLANG

    return {"flask": FLASK, "celery": CELERY, "golang": GOLANG}


def build() -> list[dict]:
    definitions = load_definitions()
    return [build_case(n, family, case) for family in FAMILIES for n, case in enumerate(definitions[family])]


def serialise(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main() -> None:
    records = build()
    found = [p for r in records for p in problems(r)]
    found += [p for f in FAMILIES for p in family_problems(f, [r for r in records if r["family"] == f])]
    found += provenance_problems(records)
    if found:
        raise SystemExit("label rules broken:\n  " + "\n  ".join(found))
    OUT.write_text(serialise(records), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(records)} cases)")
    report(records)


def as_cases(records: list[dict]) -> list:
    """The records' chunks as ``EvalCase`` objects, for the provenance checks (answers left out: the shipped
    loader does not read this set's styles)."""
    from rag_attrib.eval.data import EvalCase
    from rag_attrib.types import as_chunks

    return [EvalCase(r["id"], r["question"], as_chunks(r["chunks"]), ()) for r in records]


def provenance_problems(records: list[dict]) -> list[str]:
    return check_provenance(as_cases(records))


def report(records: list[dict]) -> None:
    for family in FAMILIES:
        rs = [r for r in records if r["family"] == family]
        sents = [s for r in rs for s in r["answer"]]
        uns = [s for s in sents if s["gold"] is None]
        two = sum(isinstance(s["gold"], list) for s in sents)
        n_words = [len(c["text"].split()) for r in rs for c in r["chunks"]]
        print(f"{family}: {len(rs)} cases, {sum(len(r['chunks']) for r in rs)} chunks "
              f"({min(n_words)}-{max(n_words)} words), {len(sents)} sentences, {two} supported by two chunks, "
              f"{len(uns)} unsupported ({len(uns) / len(sents):.0%}) {dict(sorted(Counter(s['kind'] for s in uns).items()))}")
        print(f"  contradictions: {dict(sorted(Counter(s['contradiction'] for s in uns if 'contradiction' in s).items()))}")
        for split in ("dev", "test"):
            print(f"  {split}: {[r['style'] for r in rs if r['split'] == split]}")


if __name__ == "__main__":
    main()
