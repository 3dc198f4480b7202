"""Character bookkeeping between answer sentences, tokens and chunks.

Attribution happens on tokens but is reported on sentences and chunks, so everything here returns
spans into the *original* strings: a user must be able to highlight ``answer[s.start:s.end]``.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence

from .errors import ChunkNotFoundError
from .types import Chunk, Span

# Inline citation markers as LLMs write them: [1], [doc-7], [^1], [1, 2], [1-3].
_MARKER = r"\[\^?[\w.:#/-]{1,40}(?:\s*[,;]\s*\^?[\w.:#/-]{1,40})*\]"
_MARKER_RE = re.compile(_MARKER)
_CITATION_ONLY_RE = re.compile(rf"(?:{_MARKER}[\s,;]*)+[.,;:!?]*")
# A list-item marker at the start of a line: "- ", "* ", "• ", "1. ", "2) ", "a) ", "iv. ".
_BULLET_RE = re.compile(r"(?:[-*+•‣◦▪●–—]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxlcdmIVXLCDM]{1,6})[.)])(?=\s)")
# Exactly the characters str.splitlines() breaks on.
_LINE_RE = re.compile(r"[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")


@functools.cache
def _splitter():
    """Built on first use: loading the prefix file costs time nobody importing the package should pay."""
    from sentence_splitter import SentenceSplitter

    return SentenceSplitter(language="en")


def split_sentences(answer: str) -> list[Span]:
    """Split an answer into sentence spans that cover every non-whitespace character exactly once.

    Each line is split on its own (newlines are hard boundaries) and citation markers are attached
    to the sentence they cite, because a sentence made only of "[1]" has nothing to attribute.
    """
    spans: list[Span] = []
    for line in _LINE_RE.finditer(answer):
        for piece in _split_line(line.group(), line.start()):
            if spans and _CITATION_ONLY_RE.fullmatch(piece.of(answer)):
                spans[-1] = Span(spans[-1].start, piece.end)
            else:
                spans.append(piece)
    return spans


def _split_line(line: str, offset: int) -> list[Span]:
    """Sentence spans of one line, shifted by ``offset``.

    The splitter sees a copy of the line of the same length in which whitespace is plain spaces and
    the bullet and citation markers are blanked out, so that "1. Paris" does not split after "1."
    and "big.[1] It" does split. Blanked text falls between sentences and is given back to the
    sentence before it (or to the first sentence, for a bullet or a leading marker).
    """
    if not line.strip():
        return []
    masked = re.sub(r"\s", " ", line)
    stripped = masked.lstrip()
    bullet = _BULLET_RE.match(stripped)
    if bullet:
        start = len(masked) - len(stripped)
        masked = masked[:start] + " " * bullet.end() + masked[start + bullet.end() :]
    masked = _MARKER_RE.sub(lambda m: " " * len(m.group()), masked)

    pieces = _align(masked, _splitter().split(masked))
    if not pieces:  # the line is only markers: keep it whole, split_sentences merges it
        start = len(line) - len(line.lstrip())
        pieces = [(start, len(line.rstrip()))]
    # Stretch each piece over the blanked text that follows it, and the first over what leads it.
    bounds = [p[0] for p in pieces[1:]] + [len(line)]
    out = []
    for i, ((start, end), limit) in enumerate(zip(pieces, bounds)):
        if i == 0:
            start = len(line) - len(line.lstrip())
        tail = line[end:limit].rstrip()
        out.append(Span(offset + start, offset + end + len(tail)))
    return out


def _align(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    """Map splitter output back onto ``text``, ignoring whitespace (the splitter collapses it).

    If the non-whitespace characters do not line up (a splitter change we did not foresee), the
    whole line becomes one sentence rather than losing or misplacing text.
    """
    sentences = [s for s in sentences if s.strip()]
    if "".join("".join(s.split()) for s in sentences) != "".join(text.split()):
        return [(len(text) - len(text.lstrip()), len(text.rstrip()))] if text.strip() else []
    spans = []
    pos = 0
    for sentence in sentences:
        for n in range(len("".join(sentence.split()))):
            while text[pos].isspace():
                pos += 1
            if n == 0:
                start = pos
            pos += 1
        spans.append((start, pos))
    return spans


def char_to_token_spans(
    text: str, offsets: Sequence[tuple[int, int]], spans: Sequence[Span]
) -> list[tuple[int, int]]:
    """Token index range ``[a, b)`` for each character span of ``text``.

    A token belongs to the span holding its first non-whitespace character, so " It" goes with the
    sentence starting at "It", and the pieces of a multi-byte character (which byte-level BPE gives
    overlapping offsets) go with the span holding that character. Whitespace-only and special
    tokens belong to no span but may sit inside a range.
    """
    starts = [s.start for s in spans]
    if any(a.end > b.start for a, b in zip(spans, spans[1:])):
        raise ValueError("spans must be in order and must not overlap")
    first: list[int | None] = [None] * len(spans)
    last: list[int | None] = [None] * len(spans)
    for t, (s, e) in enumerate(offsets):
        s, e = int(s), min(int(e), len(text))
        c = next((i for i in range(s, e) if not text[i].isspace()), None)
        if c is None:
            continue
        k = bisect.bisect_right(starts, c) - 1
        if k < 0 or c >= spans[k].end:
            continue
        if first[k] is None:
            first[k] = t
        last[k] = t
    ranges = []
    for k, span in enumerate(spans):
        if first[k] is None:
            raise ValueError(
                f"span {k} ({span.start}, {span.end}) {text[span.start : span.end][:40]!r} has no token "
                "starting inside it; the offsets must come from tokenizing this same text"
            )
        ranges.append((first[k], last[k] + 1))
    if any(a[1] > b[0] for a, b in zip(ranges, ranges[1:])):
        raise ValueError("token offsets are not in text order, so the spans' token ranges overlap")
    return ranges


def locate_chunks(prompt: str, chunks: Sequence[Chunk], start: int = 0) -> list[Span]:
    """Span of each chunk's text in ``prompt``, searched from ``start``; no two spans overlap.

    Exact text is preferred; a whitespace-insensitive match is the fallback because prompt
    templates often re-indent or re-wrap passages. Spans never include leading/trailing whitespace.
    """
    taken: list[Span] = []
    for chunk in chunks:
        needle = chunk.text.strip()
        if not needle:
            raise ValueError(f"chunk {chunk.id!r} has no text; drop it before attributing")
        pattern = re.compile(r"\s+".join(re.escape(word) for word in needle.split()))
        span = _first_free(prompt, re.compile(re.escape(needle)), start, taken) or _first_free(
            prompt, pattern, start, taken
        )
        if span is None:
            raise ChunkNotFoundError(_not_found_message(prompt, chunk, pattern, start, taken))
        taken.append(span)
    return taken


def _first_free(prompt: str, pattern: re.Pattern[str], start: int, taken: list[Span]) -> Span | None:
    """First match of ``pattern`` at or after ``start`` that overlaps no span in ``taken``."""
    pos = start
    while (m := pattern.search(prompt, pos)) is not None:
        if not any(m.start() < t.end and t.start < m.end() for t in taken):
            return Span(m.start(), m.end())
        pos = m.start() + 1
    return None


def _not_found_message(prompt: str, chunk: Chunk, pattern: re.Pattern[str], start: int, taken: list[Span]) -> str:
    snippet = " ".join(chunk.text.split())
    snippet = snippet if len(snippet) <= 60 else snippet[:60] + "..."
    if pattern.search(prompt, start):
        why = "occurs in the prompt only where another chunk was already located (chunks must not overlap)"
    elif pattern.search(prompt):
        why = f"occurs in the prompt only before character {start}, where the search starts"
    else:
        why = "does not occur in the prompt, not even ignoring whitespace"
    return (
        f"chunk {chunk.id!r} ({snippet!r}) {why}; pass the prompt the model actually saw, "
        "or the chunk text exactly as it appears in it"
    )
