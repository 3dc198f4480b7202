"""Citation markers: the forms LLMs write them in, which chunk each names, and where they sit in an answer.

The engine leaves markers out of each sentence's target (``citation_spans``), the sentence split keeps them with
the sentence they cite (``blank_markers``, ``only_markers``), and verification compares the chunks they name with
the attribution (``parse_markers``, ``by_label``, ``strip_markers``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .types import Chunk, Span

# One key in a marker: "1", "doc-7", "1-3".
_KEY = r"[\w.:#/\u2013-]{1,40}"
# Inline citation markers as LLMs write them: [1], [doc-7], [^1], [1, 2], [1-3], [ 2 ]. The group holds the key(s).
MARKER_PATTERN = rf"\[\s*\^?({_KEY}(?:\s*[,;]\s*\^?{_KEY})*)\s*\]"
# The same, written by some APIs and prompts: 【1†source】, [Source 1], [source: 2], [Doc 3], [citation:2], and in
# parentheses with the word: (Source 1), (Sources: 1, 2). A bare "(1)" is too often a list item to be one.
SOURCE_MARKER_PATTERN = (r"【(\d+)(?:[†:][^】]{0,40})?】"
                         r"|\[(?:[Ss]ource|[Dd]oc(?:ument)?|[Rr]ef|[Cc]itation)s?:?\s*(\d+(?:\s*[-\u2013,;]\s*\d+)*)\]"
                         r"|\((?:[Ss]ource|[Dd]oc(?:ument)?|[Rr]ef)s?:?\s*(\d+(?:\s*[-\u2013,;]\s*\d+)*)\)")
# [1] [2][3] [1, 2] [1-3] [doc-7] [^1] 【1†source】 [Source 1] (Source 1) [citation:2]
DEFAULT_MARKER_PATTERNS = (MARKER_PATTERN, SOURCE_MARKER_PATTERN)
_ANY_MARKER = rf"(?:{MARKER_PATTERN}|{SOURCE_MARKER_PATTERN})"
_MARKER_RE = re.compile(_ANY_MARKER)
_MARKERS_ONLY_RE = re.compile(rf"(?:{_ANY_MARKER}[\s,;]*)+[.,;:!?]*")
# Code in Markdown: a fenced block (to its closing fence, or the end) and inline code. "arr[1]" there is code.
_CODE_RE = re.compile(r"(```|~~~).*?(?:\1|\Z)|`[^`\n]+`", re.DOTALL)


@dataclass(frozen=True)
class Marker:
    """One inline citation marker: where it is in the answer, what it says, which chunk it names."""

    span: Span
    key: str
    chunk_id: str | None  # None: it names no chunk (e.g. [7] with 3 chunks)
    by: str | None = None  # how the key named it: "id", "number" (1 = the first chunk) or the prompt's "label"


def code_spans(text: str) -> list[Span]:
    """Where ``text`` holds Markdown code (fenced blocks, inline code), in which a bracket is never a citation."""
    return [Span(m.start(), m.end()) for m in _CODE_RE.finditer(text)]


def blank_markers(text: str) -> str:
    """``text`` with each marker of the built-in forms written as spaces (the same length), for the sentence
    splitter, which would read "big.[1] It" as one sentence."""
    return _MARKER_RE.sub(lambda m: " " * len(m.group()), text)


def only_markers(text: str) -> bool:
    """Whether ``text`` (stripped) is only markers of the built-in forms, with the punctuation after them."""
    return _MARKERS_ONLY_RE.fullmatch(text.strip()) is not None


def parse_markers(
    text: str, chunks: Sequence[Chunk], patterns: Sequence[str] = DEFAULT_MARKER_PATTERNS
) -> list[Marker]:
    """Every citation marker in ``text``, in order, mapped to a chunk id.

    A key names a chunk by its id first, then by its 1-based number in the prompt (``by_label`` settles the
    keys that could be either). In each pattern the first group that matched holds the key(s); commas or
    semicolons separate several keys in one marker. A marker whose text is a chunk's id (``[doc 3]``,
    ``(Source 3)``) names that chunk, and a square bracket holding ids longer than a key or with other characters
    (a sha256, ``[<doc>]``, ``[doc 3, doc 1]``), alone or in a list, is a marker whatever ``patterns`` say.
    Brackets inside Markdown code (```` `arr[1]` ````, fenced blocks) are not markers. Where the matches of two
    patterns overlap (``[doc2]`` is an id to the first and document 2 to the second), the one that names more
    chunks is kept, else the first.
    """
    ids = {c.id for c in chunks}
    unusual = {i for i in ids if not re.fullmatch(_KEY, i)}  # ids no key pattern reads whole: "doc 3", a sha256
    code = code_spans(text)
    by_id = [_markers(match, match.group(1), chunks, ids) for match in _matches(_ids_pattern(unusual), text, code)]
    by_id = [markers for markers in by_id if any(m.key in unusual for m in markers)]
    found: list[list[Marker]] = []  # the markers of each pattern match kept so far
    for pattern in patterns:
        for match in _matches(pattern, text, code):
            span = Span(match.start(), match.end())
            if any(markers[0].span.overlaps(span) for markers in by_id):
                continue  # a chunk's own id wins over any other reading
            inner = _inner(match.group())  # "doc 3" of [doc 3]: an id, not document 3
            group = inner if inner in ids else next(g for g in match.groups() if g is not None)
            markers = _markers(match, group, chunks, ids)
            clash = next((i for i, other in enumerate(found) if other[0].span.overlaps(span)), None)
            if clash is None:
                found.append(markers)
            elif _named(markers) > _named(found[clash]):
                found[clash] = markers
    return sorted((m for markers in by_id + found for m in markers), key=lambda m: m.span.start)


def citation_spans(answer: str, chunks: Sequence[Chunk]) -> list[Span]:
    """Where the answer's markers that name a chunk sit: the characters no sentence's target counts
    (``prompt.encode``'s ``skip``). An index in code that names a chunk number (``argv[1]``) is taken for one:
    a few tokens out of the target, where a marker counted would move the shares."""
    return [m.span for m in parse_markers(answer, chunks) if m.chunk_id is not None]


def _matches(pattern: str, text: str, code: Sequence[Span]) -> list[re.Match[str]]:
    """The matches of ``pattern`` in ``text`` outside Markdown code (`arr[1]` is code, not a citation)."""
    return [m for m in re.finditer(pattern, text)
            if not any(c.start <= m.start() and m.end() <= c.end for c in code)]


def _inner(marker: str) -> str | None:
    """What a marker's brackets hold, stripped; None for a marker that is not in brackets."""
    return marker[1:-1].strip() if marker[:1] + marker[-1:] in ("[]", "()", "【】") else None


def _ids_pattern(ids: set[str]) -> str:
    """A square bracket holding a list of keys, any of which may be one of ``ids`` as written (longest first).
    No id in ``ids`` may be a key the key pattern reads: where both read the same text, a list that is no marker
    ("[1, 2, 3, ... and so on]") would be tried in every way of reading each item, 2^n."""
    if not ids:
        return r"(?!)"
    item = rf"\^?(?:{'|'.join(re.escape(i) for i in sorted(ids, key=len, reverse=True))}|{_KEY})"
    return rf"\[\s*({item}(?:\s*[,;]\s*{item})*)\s*\]"


def _markers(match: re.Match[str], group: str, chunks: Sequence[Chunk], ids: set[str]) -> list[Marker]:
    span = Span(match.start(), match.end())
    return [Marker(span, key, *_chunk_id(key, chunks, ids)) for key in _keys(group, ids, len(chunks))]


def _chunk_id(key: str, chunks: Sequence[Chunk], ids: set[str]) -> tuple[str | None, str | None]:
    """The chunk id ``key`` names and how: by the id itself, else by number (1 = the first chunk)."""
    if key in ids:
        return key, "id"
    if key.isdigit() and 1 <= int(key) <= len(chunks):
        return chunks[int(key) - 1].id, "number"
    return None, None


def _named(markers: Sequence[Marker]) -> int:
    return sum(m.chunk_id is not None for m in markers)


def _keys(group: str, ids: set[str], n_chunks: int) -> list[str]:
    """The keys one marker holds: "1, 2" -> 1, 2; "^1" -> 1; a range of chunk numbers "1-3" (or "1–3") -> 1, 2,
    3, unless it is an id ("2020-2024" stays one key, naming nothing). An id holding a comma stays whole."""
    keys = []
    for key in _items(group.strip(), ids):
        key = key if key in ids else key.lstrip("^")
        span = re.fullmatch(r"(\d+)\s*[-\u2013]\s*(\d+)", key)
        if span and key not in ids and 1 <= int(span[1]) < int(span[2]) <= n_chunks:
            keys += [str(n) for n in range(int(span[1]), int(span[2]) + 1)]
        else:
            keys.append(key)
    return keys


def _items(group: str, ids: set[str]) -> list[str]:
    """``group`` cut at its commas and semicolons, except inside a chunk id (the longest that fits)."""
    parts = re.split(r"(\s*[,;]\s*)", group)  # item, separator, item, ...
    items, i = [], 0
    while i < len(parts):
        j = next((j for j in range(len(parts) - 1, i, -2) if "".join(parts[i : j + 1]) in ids), i)
        items.append("".join(parts[i : j + 1]))
        i = j + 2
    return items


def by_label(markers: Sequence[Marker], chunks: Sequence[Chunk], prompt: str, chunk_spans: Sequence[Span]
             ) -> list[Marker]:
    """``markers`` with each ambiguous key resolved by the labels of the prompt the LLM saw.

    A key such as ``3`` is ambiguous when one chunk's id is "3" and another chunk is the third (retrievers'
    ids are often numbers). The chunk whose label in the prompt (``_label``: ``[3] ``, ``Source 3:``) holds the
    key is the one meant; the default prompt labels chunks by number.
    Where neither or both labels hold it, the id wins.
    """
    ids = [c.id for c in chunks]
    out = []
    for m in markers:
        if m.key.isdigit() and m.key in ids and 1 <= int(m.key) <= len(chunks) and ids[int(m.key) - 1] != m.key:
            by_id, by_number = ids.index(m.key), int(m.key) - 1
            labelled = [j for j in (by_id, by_number) if re.search(rf"(?<!\d){m.key}(?!\d)", _label(prompt, chunk_spans, j))]
            if labelled == [by_number]:
                m = Marker(m.span, m.key, ids[by_number], "label")
        out.append(m)
    return out


def _label(prompt: str, chunk_spans: Sequence[Span], j: int) -> str:
    """Chunk ``j``'s label: the last line before it ("[3] ", "Source 3:" on a line of its own), after the chunk
    before it; a longer line (the question, an instruction) is no label."""
    start = chunk_spans[j].start
    before = max((s.end for s in chunk_spans if s.end <= start), default=0)
    line = prompt[max(before, start - 40):start].rstrip().rsplit("\n", 1)[-1].strip()
    return line if len(line) <= 24 else ""


def strip_markers(answer: str, markers: Sequence[Marker]) -> tuple[str, list[int]]:
    """The answer without its markers (and the whitespace before each), plus a map clean -> original index."""
    remove = set()
    for m in markers:
        start = m.span.start
        while start > 0 and answer[start - 1] in " \t":
            start -= 1
        remove.update(range(start, m.span.end))
    keep = [i for i in range(len(answer)) if i not in remove]
    return "".join(answer[i] for i in keep), keep
