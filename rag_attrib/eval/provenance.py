"""Where the realistic evaluation set comes from, checked: every chunk is verbatim text of an installed file.

The ``realistic`` cases are cut from documentation that Debian packages ship (PostgreSQL, Git, Django, the
Debian Administrator's Handbook). Each chunk's metadata names its ``package``, ``package_version``,
``license`` and the ``path`` of the installed file; its text is a run of that file's visible text with
whitespace collapsed (:func:`document_text`). :func:`check_provenance` re-extracts every file and checks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from .data import EvalCase

_SKIP = {"script", "style", "head", "title"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skipping.append(tag)
        self.parts.append(" ")  # every tag boundary may separate words (<td>a</td><td>b</td>)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


@functools.cache
def document_text(path: str | Path) -> str:
    """The visible text of an HTML file (or a plain-text file) with all whitespace collapsed to single spaces.

    Tag boundaries count as whitespace, entities are decoded, ``<script>``, ``<style>`` and ``<head>`` are
    dropped. Chunks of the realistic set are substrings of this text.
    """
    path = Path(path)
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm", ".xhtml"):
        parser = _Text()
        parser.feed(raw)
        parser.close()
        raw = "".join(parser.parts)
    return " ".join(raw.split())


def missing_packages(cases: Iterable[EvalCase]) -> list[str]:
    """Packages named by the chunks whose files are not installed here (sorted)."""
    missing = set()
    for case in cases:
        for chunk in case.chunks:
            meta = chunk.metadata
            if "package" in meta and not Path(meta["path"]).is_file():
                missing.add(meta["package"])
    return sorted(missing)


def check_provenance(cases: Iterable[EvalCase]) -> list[str]:
    """Problems found (empty: every chunk with a source is verbatim text of its installed file).

    Chunks whose file is not installed are not checked; :func:`missing_packages` names them.
    """
    problems = []
    for case in cases:
        for chunk in case.chunks:
            meta = chunk.metadata
            if "package" not in meta:
                problems.append(f"{case.id}/{chunk.id}: no source recorded (metadata needs package, path, license)")
                continue
            absent = [k for k in ("package_version", "license", "path") if not meta.get(k)]
            if absent:
                problems.append(f"{case.id}/{chunk.id}: metadata lacks {absent}")
                continue
            if not Path(meta["path"]).is_file():
                continue
            if " ".join(chunk.text.split()) not in document_text(meta["path"]):
                problems.append(f"{case.id}/{chunk.id}: text is not in {meta['path']} ({meta['package']})")
    return problems
