"""Build the training pairs of the consistency checker: (passage, claim, label) from documentation no
evaluation set uses.

    PYTHONPATH=. python benchmarks/checker/build_pairs.py [--out benchmarks/checker/pairs.jsonl]

Sources (Debian packages, ``apt-get install bind9-doc sphinx-doc python-sqlalchemy-doc``): the BIND 9
Administrator Reference Manual, Sphinx's user and extension guides, and SQLAlchemy's ORM, Core and FAQ pages.
No eval set draws on them, and none is a manual page or the Python standard library's documentation.

Chunks are cut as the eval sets cut them (``benchmarks/realistic/chunker.py``, about 110 words); a claim is
read against the evidence passage the attribution would find for it: the sentences it comes from (or, for an
unsupported claim, the chunk sentence sharing most words with it) and one sentence on either side. The claims
follow the published recipe of consistency checkers trained on synthetic edits (Kryscinski et al., 2020, FactCC):

- ``supported``: one of its sentences as written, with a hedged opening, or two of its sentences joined;
- ``contradicted``: such a sentence with one minimal edit the passage contradicts: another number, a negation
  added or dropped, a word swapped for its opposite, true for false, or a code name or flag swapped for another
  of the same document;
- ``unsupported``: a sentence of another passage of the same document, the one sharing most words with this
  passage among a few drawn (on topic, not stated).

Deterministic: the same installed files give the same pairs, line for line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT / "benchmarks" / "realistic")]

from chunker import chunks as cut_chunks
from chunker import sentences as cut_sentences

from rag_attrib.eval.provenance import document_text

SOURCES = {
    "bind9": {"package": "bind9-doc", "license": "MPL-2.0", "dir": "/usr/share/doc/bind9-doc/arm",
              "include": ("chapter", "notes"), "exclude": ()},
    "sphinx": {"package": "sphinx-doc", "license": "BSD-2-Clause", "dir": "/usr/share/doc/sphinx-doc/html",
               "include": ("usage/", "extdev/", "development/", "tutorial/", "templating", "faq"),
               "exclude": ("_modules", "_sources", "/man/", "changes", "genindex")},
    "sqlalchemy": {"package": "python-sqlalchemy-doc", "license": "MIT",
                   "dir": "/usr/share/doc/python-sqlalchemy-doc/html",
                   "include": ("orm/", "core/", "faq/", "tutorial/"),
                   "exclude": ("_modules", "changelog", "genindex", "dialects")},
}
PER_SOURCE = 450  # passages drawn per source, so that no documentation set outweighs the others
LABELS = ("supported", "contradicted", "unsupported")
HEDGES = ("According to the documentation, ", "The docs say that ", "As described, ", "In short, ")
OPPOSITES = [("minimum", "maximum"), ("enable", "disable"), ("enabled", "disabled"), ("true", "false"),
             ("True", "False"), ("allow", "deny"), ("include", "exclude"), ("before", "after"),
             ("first", "last"), ("always", "never"), ("required", "optional"), ("synchronous", "asynchronous"),
             ("increase", "decrease"), ("ascending", "descending"), ("static", "dynamic"), ("input", "output"),
             ("inner", "outer"), ("client", "server"), ("primary", "secondary"), ("public", "private"),
             ("more", "fewer"), ("larger", "smaller"), ("above", "below"), ("start", "end"), ("open", "closed")]
NEGATABLE = [(" is ", " is not "), (" are ", " are not "), (" can ", " cannot "), (" must ", " must not "),
             (" will ", " will not "), (" does ", " does not "), (" should ", " should not "), (" may ", " may not ")]
CODE = re.compile(r"(?<![\w-])(?:--?[a-z][\w-]+|[a-z_]+\(\)|[a-z]+(?:[._-][a-z]+)+|[a-z]+_[a-z_]+)(?![\w-])")
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\d)")


def documents(spec: dict) -> list[tuple[str, str]]:
    """(path, visible text) of the source's chosen HTML files, sorted by path."""
    out = []
    for path in sorted(Path(spec["dir"]).rglob("*.html")):
        rel = str(path.relative_to(spec["dir"]))
        if any(k in rel for k in spec["include"]) and not any(k in "/" + rel for k in spec["exclude"]):
            out.append((str(path), document_text(path)))
    return out


def usable(sentence: str) -> bool:
    """A prose sentence: 6-45 words, most of them words, no code listing or heading mark."""
    words = sentence.split()
    return (6 <= len(words) <= 45 and sentence.rstrip().endswith(".") and not re.search(r"[¶=#{}$]", sentence)
            and sum(w.strip(",.;:()").isalpha() for w in words) >= 0.7 * len(words))


def other_number(rng: random.Random, text: str) -> str:
    if "." in text:
        return f"{float(text) * rng.choice((2, 0.5, 10)):g}"
    n = int(text)
    return str(rng.choice([n * 2, n + 1, max(n - 1, 0) if n > 1 else n + 2, n * 10]))


def contradict(rng: random.Random, sentence: str, codes: list[str]) -> tuple[str, str] | None:
    """``sentence`` with one edit its passage contradicts, and the edit's kind; None when none applies."""
    edits = []
    for m in NUMBER.finditer(sentence):
        edits.append(("number", m.start(), m.end(), other_number(rng, m.group())))
    for a, b in OPPOSITES:
        for x, y in ((a, b), (b, a)):
            for m in re.finditer(rf"\b{re.escape(x)}\b", sentence):
                edits.append(("opposite", m.start(), m.end(), y))
    for x, y in NEGATABLE:
        i = sentence.find(y)
        if i >= 0:
            edits.append(("negation", i, i + len(y), x))
        elif (i := sentence.find(x)) >= 0:
            edits.append(("negation", i, i + len(x), y))
    for m in CODE.finditer(sentence):
        others = [c for c in codes if c != m.group() and c[:2] == m.group()[:2]] or [c for c in codes
                                                                                    if c != m.group()]
        if others:
            edits.append(("code", m.start(), m.end(), rng.choice(others)))
    if not edits:
        return None
    kind, a, b, new = rng.choice(edits)
    return sentence[:a] + new + sentence[b:], kind


def hedge(rng: random.Random, sentence: str) -> str:
    first = sentence[0].lower() + sentence[1:] if sentence[:2].istitle() and not sentence[:2].isupper() else sentence
    return rng.choice(HEDGES) + first


def join(first: str, second: str) -> str:
    return first.rstrip(".") + ", and " + (second[0].lower() + second[1:] if second[:2].istitle() else second)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower())}


def window(sentences: list[str], first: int, last: int) -> str:
    """The sentences ``first``..``last`` and one on either side: the evidence passage a claim is read against."""
    return " ".join(sentences[max(first - 1, 0):last + 2])


def pairs_of(source: str, path: str, passages: list[str], rng: random.Random) -> list[dict]:
    codes = sorted({m.group() for p in passages for m in CODE.finditer(p)})
    split = [cut_sentences(p) for p in passages]
    out = []
    for i, passage in enumerate(passages):
        own = [k for k, s in enumerate(split[i]) if usable(s)]
        if len(passage.split()) < 50 or not own:
            continue
        row = {"source": source, "path": path, "chunk": i}
        k = rng.choice(own)
        claim, evidence = split[i][k], window(split[i], k, k)
        shape = rng.choice(("as written", "hedged", "joined") if k + 1 in own else ("as written", "hedged"))
        if shape == "hedged":
            claim = hedge(rng, claim)
        elif shape == "joined":
            claim, evidence = join(claim, split[i][k + 1]), window(split[i], k, k + 1)
        out.append({**row, "passage": evidence, "claim": claim, "label": "supported", "kind": shape})
        edited = contradict(rng, claim, codes)
        if edited:
            out.append({**row, "passage": evidence, "claim": edited[0], "label": "contradicted", "kind": edited[1]})
        elsewhere = [s for j, ss in enumerate(split) if j != i for s in ss if usable(s) and s not in passage]
        if elsewhere:
            near = max(rng.sample(elsewhere, min(8, len(elsewhere))), key=lambda s: len(words(s) & words(passage)))
            k = max(range(len(split[i])), key=lambda n: len(words(split[i][n]) & words(near)))
            out.append({**row, "passage": window(split[i], k, k), "claim": hedge(rng, near) if shape == "hedged"
                        else near, "label": "unsupported", "kind": "other passage"})
    return out


def build() -> list[dict]:
    out = []
    for source, spec in SOURCES.items():
        rng = random.Random(source)
        rows = [r for path, text in documents(spec)
                for r in pairs_of(source, path, cut_chunks(text, target=110, hard_max=190), rng)]
        passages = sorted({(r["path"], r["chunk"]) for r in rows})
        kept = set(rng.sample(passages, min(PER_SOURCE, len(passages))))
        out.extend(r for r in rows if (r["path"], r["chunk"]) in kept)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "pairs.jsonl"))
    args = parser.parse_args()
    rows = build()
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    counts = {(s, lab): sum(r["source"] == s and r["label"] == lab for r in rows) for s in SOURCES for lab in LABELS}
    print(f"{len(rows)} pairs -> {args.out}", counts)


if __name__ == "__main__":
    main()
