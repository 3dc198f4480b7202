"""Character bookkeeping between answer sentences, tokens and chunks.

Attribution happens on tokens but is reported on sentences and chunks, so everything here returns
spans into the *original* strings: a user must be able to highlight ``answer[s.start:s.end]``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence

from .errors import AmbiguousChunkError, ChunkNotFoundError, EmptyAnswerError, InvalidChunksError, InvalidTypeError
from .markers import blank_markers, only_markers
from .types import Chunk, Span

# A list-item marker at the start of a line: "- ", "* ", "• ", "1. ", "2) ", "a) ", "iv. ".
_BULLET_RE = re.compile(r"(?:[-*+•‣◦▪●–—]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxlcdmIVXLCDM]{1,6})[.)])(?=\s)")
# Exactly the characters str.splitlines() breaks on.
_LINE_RE = re.compile(r"[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")
# An emoji after a sentence's end (it opens the next one), and a Chinese/Japanese full stop with what closes it.
_SYMBOL_AFTER_STOP_RE = re.compile(r"([.!?\u2026] +)[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]")
_CJK_STOP_RE = re.compile(r"[\u3002\uff01\uff1f]+[\u300d\u300f\uff09\u201d]*(\s*)(?=\S)")
# Abbreviations the English splitter ends a sentence at: two letters with spaced full stops ("z. B.", "d. h.",
# "u. a."; a lone letter may end a sentence: "run ls -a.") and a few words that rarely end one ("approx. 5",
# "vgl. Abschnitt"). Their full stops are hidden from it.
_ABBREVIATION_RE = re.compile(r"(?<![\w.-])(?:[a-zß]\. [a-zA-Zß]|approx|ca|cf|incl|excl|resp|esp|vgl|bzw|ggf|bspw|"
                              r"evtl|inkl|sog)\.(?= +\S)", re.IGNORECASE)

# A sentence of a technical answer may open with what the English splitter takes for a lower-case word: a code
# name (``weekday()``, ``app.config``, ``most_common``, ``getElementById``), a flag (``--since``), a path, inline
# code, or a command or type written in lower case (``dpkg -r ...``, ``jsonb keeps ...``). After a full stop and a
# space, such an opening starts a new sentence, unless the stop ends an abbreviation ("e.g. --verbose", "etc. and");
# a plain lower-case word only after a word with a letter and without inner full stops (not "a.m.", not a list's
# "1."), and not after a full stop inside quotes ('prints "done." and exits').
_TECH_START_RE = re.compile(r"[.!?][\"')\]]*( +)(?=--?[A-Za-z]|[~.]?/\w|`|[A-Za-z_]\w*(?:\(|\.[A-Za-z_]|::|_\w)"
                            r"|[a-z]+[A-Z]\w*)")
_LOWER_START_RE = re.compile(r"(?<!\S)(?=[^\s.]*[A-Za-z])[^\s.]{2,}[)\]]*[.!?][)\]]*( +)(?=[a-z])")
# The words whose full stop ends no sentence; the last characters of the text before a cut are read against them.
_ABBREVIATION_END_RE = re.compile(
    r"(?<![^\s(])(?:e\.g|i\.e|etc|vs|cf|viz|al|approx|ca|no|nr|fig|figs|eq|sec|ch|vol|pp|resp|incl|excl|esp|min|max|"
    r"avg|dept|est|dr|mr|mrs|ms|prof|st|jr|sr|inc|ltd|co|corp|lbs|oz|ft|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|"
    r"nov|dec|[a-zA-Z])[.!?]$", re.IGNORECASE)


def check_answer(answer: object, none_generates: bool = True) -> None:
    """Refuse an answer with nothing to attribute: not a string, empty, or only citation markers.
    ``none_generates``: whether the caller lets the local model answer when given ``answer=None``."""
    if not isinstance(answer, str):
        raise InvalidTypeError(f"answer must be a str, got {type(answer).__name__}")
    if is_blank(answer):
        raise EmptyAnswerError(
            "the answer is empty or only whitespace and invisible characters, so there is nothing to attribute (if "
            "an LLM returned it, its call failed or was cut off); pass the answer's text"
            + (", or answer=None to let the local model answer" if none_generates else "")
        )
    if only_markers(_visible(answer)):
        raise EmptyAnswerError(
            f"the answer {answer.strip()[:60]!r} holds only citation markers and no text to attribute; pass the "
            "answer's text (markers may stay in it)"
        )


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only whitespace and invisible format characters (zero-width space, byte
    order mark, joiners: Unicode category Cf), which a model reads as tokens but no sentence is made of."""
    return not _visible(text).strip()


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


@functools.cache
def _splitter():
    """Built on first use: loading the prefix file costs time nobody importing the package should pay."""
    from sentence_splitter import SentenceSplitter

    return SentenceSplitter(language="en")


def split_sentences(answer: str, markers: Sequence[Span] = ()) -> list[Span]:
    """Split an answer into sentence spans that cover every non-whitespace character exactly once.

    Each line is split on its own (newlines are hard boundaries) and citation markers are attached
    to the sentence they cite, because a sentence made only of "[1]" has nothing to attribute.
    ``markers``: where more markers sit than the built-in forms find (``markers.parse_markers`` reads a chunk's
    id of any form: ``[<sha256>]``), each kept with its sentence alike.
    """
    shown = _with_stand_ins(answer, markers)
    spans: list[Span] = []
    for line in _LINE_RE.finditer(shown):
        for piece in _split_line(line.group(), line.start()):
            if spans and only_markers(piece.of(shown)):
                spans[-1] = Span(spans[-1].start, piece.end)
            else:
                spans.append(piece)
    return spans


def _with_stand_ins(answer: str, markers: Sequence[Span]) -> str:
    """``answer`` with each marker span of 3 characters or more written as built-in markers of the same length
    ("[1][1][11]"), which the splitter already keeps with their sentence; the spans stay those of ``answer``."""
    for m in markers:
        n = m.end - m.start
        if n >= 3:
            answer = answer[: m.start] + "[1]" * (n // 3 - 1) + "[1" + "1" * (n % 3) + "]" + answer[m.end :]
    return answer


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
    masked = blank_markers(masked)
    # What the English splitter does not know, shown to it in forms it does (the same length): an ellipsis
    # character ends a sentence as "..." does, and an emoji opening the next sentence ("... Bäckerei. 🍞 Sie")
    # stands in for the capital it waits for.
    masked = masked.replace("\u2026", ".")
    masked = _ABBREVIATION_RE.sub(lambda m: m.group().replace(".", "_"), masked)
    masked = _SYMBOL_AFTER_STOP_RE.sub(lambda m: m.group(1) + "A", masked)

    pieces = [cut for piece in _align(masked, _splitter().split(masked)) for cut in _cjk_cuts(masked, *piece)
              for cut in _technical_cuts(masked, *cut)]
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


def _technical_cuts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``(start, end)`` cut where a sentence ends and the next opens with a code name, flag, path or inline code."""
    pieces, a = [], start
    stops = {m.start(1): m for pattern in (_TECH_START_RE, _LOWER_START_RE) for m in pattern.finditer(text, start, end)}
    for at in sorted(stops):
        m = stops[at]
        before = text[max(a, at - 16) : at].rstrip("\"')] ")  # only its last word matters: linear in the line
        if at > a and not _ABBREVIATION_END_RE.search(before):
            pieces.append((a, at))
            a = m.end()
    return pieces + [(a, end)]


def _cjk_cuts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``(start, end)`` cut after each Chinese or Japanese full stop (no space need follow; a blanked marker
    after it stays with the sentence before, as the caller stretches each piece over the blanks after it)."""
    pieces, a = [], start
    for m in _CJK_STOP_RE.finditer(text, start, end):
        pieces.append((a, m.start(1)))
        a = m.end()
    return pieces + [(a, end)]


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
    if any(a.end > b.start for a, b in itertools.pairwise(spans)):
        raise ValueError("spans must be in order and must not overlap")
    first: list[int | None] = [None] * len(spans)
    last: list[int | None] = [None] * len(spans)
    for t, (s, e) in enumerate(offsets):
        c = first_visible(text, int(s), int(e))
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
    if any(a[1] > b[0] for a, b in itertools.pairwise(ranges)):
        raise ValueError("token offsets are not in text order, so the spans' token ranges overlap")
    return ranges


def first_visible(text: str, start: int, end: int) -> int | None:
    """Where the first non-whitespace character of ``text[start:end]`` (a token's text) is, or None."""
    return next((i for i in range(max(start, 0), min(end, len(text))) if not text[i].isspace()), None)


def nonspace_map(src: str, dst: str) -> Callable[[int], int]:
    """Position in ``src`` -> the same character's position in ``dst``, two texts that differ only in whitespace
    (a chunk's text and the prompt's copy of it, which a template may re-wrap); a whitespace position maps to the
    next non-space character's."""
    if src == dst:
        return lambda i: i
    dst_chars = [i for i, ch in enumerate(dst) if not ch.isspace()]
    rank, k = [], 0
    for ch in src:  # rank[i]: how many non-space characters of src come before position i
        rank.append(k)
        k += not ch.isspace()
    return lambda i: dst_chars[min(rank[i], len(dst_chars) - 1)] if dst_chars else 0


def locate_chunks(prompt: str, chunks: Sequence[Chunk], start: int = 0) -> list[Span]:
    """Span of each chunk's text in ``prompt`` (searched from ``start``), each on its own occurrence.

    Exact text is preferred; a whitespace-insensitive match is the fallback because prompt templates often
    re-indent or re-wrap passages. Spans never include leading/trailing whitespace and never overlap.

    Which occurrence, when a text occurs more than once (a short chunk may also stand in the question, the
    instructions or inside a longer chunk): longest chunks first, a chunk with one free occurrence goes there;
    one with several goes to the free occurrence nearest to the chunks already placed, because retrieved
    passages sit together in the context; copies of one text passed as often as it occurs take its occurrences
    in order. When nothing decides, ``AmbiguousChunkError`` names the chunk instead of a guess; a chunk not in
    the prompt raises ``ChunkNotFoundError``.
    """
    found = [_occurrences(prompt, chunk, start) for chunk in chunks]
    placed: dict[int, Span] = {}
    pending = sorted(range(len(chunks)), key=lambda i: -len(chunks[i].text.strip()))
    while pending:
        free = {i: [s for s in found[i] if not any(s.overlaps(p) for p in placed.values())] for i in pending}
        missing = sorted(i for i in pending if not free[i])
        if missing:
            others = [chunks[j].id for j in missing[1:]]
            also = f"; nor are {len(others)} more chunks: {', '.join(map(repr, others))}" if others else ""
            raise ChunkNotFoundError(_not_found_message(prompt, chunks[missing[0]], found[missing[0]], start, placed,
                                                        chunks) + also)
        unique = [i for i in pending if len(free[i]) == 1]
        i = unique[0] if unique else pending[0]
        twins = [j for j in pending if chunks[j].text.strip() == chunks[i].text.strip()]
        apart = all(not a.overlaps(b) for a, b in itertools.pairwise(sorted(free[i], key=lambda x: x.start)))
        if len(free[i]) > 1 and len(twins) == len(free[i]) and apart:  # as many copies passed as the prompt holds
            placed.update(zip(twins, free[i]))
            pending = [j for j in pending if j not in twins]
            continue
        if not unique:
            gaps = [min((_gap(s, p) for p in placed.values()), default=None) for s in free[i]]
            best = min(gaps) if placed else None
            if best is None or gaps.count(best) > 1:
                raise AmbiguousChunkError(_ambiguous_message(chunks[i], free[i]))
            free[i] = [free[i][gaps.index(best)]]
        placed[i] = free[i][0]
        pending.remove(i)
    # Chunks with the same text are interchangeable: give them their occurrences in the order they were passed.
    for text in {c.text.strip() for c in chunks}:
        same = [i for i, c in enumerate(chunks) if c.text.strip() == text]
        for i, span in zip(same, sorted((placed[i] for i in same), key=lambda s: s.start)):
            placed[i] = span
    return [placed[i] for i in range(len(chunks))]


def _occurrences(prompt: str, chunk: Chunk, start: int) -> list[Span]:
    if not chunk.text.strip():
        raise InvalidChunksError(f"chunk {chunk.id!r} has no text; drop it before attributing")
    return find_text(prompt, chunk.text, start)


def find_text(prompt: str, text: str, start: int = 0) -> list[Span]:
    """Every (possibly overlapping) exact occurrence of ``text`` (stripped) in ``prompt`` from ``start``; if
    there is none, every occurrence ignoring differences in whitespace."""
    needle = text.strip()
    for pattern in (re.escape(needle), r"\s+".join(re.escape(word) for word in needle.split())):
        spans, pos, compiled = [], start, re.compile(pattern)
        while (m := compiled.search(prompt, pos)) is not None:
            spans.append(Span(m.start(), m.end()))
            pos = m.start() + 1
        if spans:
            return spans
    return []


def _gap(a: Span, b: Span) -> int:
    return max(0, a.start - b.end, b.start - a.end)


def _snippet(chunk: Chunk) -> str:
    text = " ".join(chunk.text.split())
    return text if len(text) <= 60 else text[:60] + "..."


def _not_found_message(
    prompt: str, chunk: Chunk, occurrences: list[Span], start: int, placed: dict[int, Span], chunks: Sequence[Chunk]
) -> str:
    if occurrences:
        holders = sorted({chunks[j].id for s in occurrences for j, p in placed.items() if s.overlaps(p)})
        why = f"occurs in the prompt only inside the text of chunk(s) {holders} (chunks must not overlap)"
    elif start and _occurrences(prompt, chunk, 0):
        why = f"occurs in the prompt only before character {start}, where the search starts"
    else:
        why = "does not occur in the prompt, not even ignoring whitespace"
    return (
        f"chunk {chunk.id!r} ({_snippet(chunk)!r}) {why}; pass the prompt the model actually saw, "
        "or the chunk text exactly as it appears in it"
    )


def _ambiguous_message(chunk: Chunk, occurrences: list[Span]) -> str:
    where = ", ".join(str(s.start) for s in occurrences[:5])
    return (
        f"chunk {chunk.id!r} ({_snippet(chunk)!r}) occurs {len(occurrences)} times in the prompt (at characters "
        f"{where}) and nothing tells which one is the retrieved passage; pass every chunk the prompt holds (they "
        "are located together), or the chunk's full text as retrieved"
    )
