"""Tests for rag_attrib.text: sentence spans, token ranges and chunk location."""

from __future__ import annotations

import random
import re

import pytest
from tokenizers import ByteLevelBPETokenizer
from tokenizers.processors import TemplateProcessing

from rag_attrib.errors import ChunkNotFoundError
from rag_attrib.text import char_to_token_spans, locate_chunks, split_sentences
from rag_attrib.types import Chunk, Span


def assert_covers_exactly(answer: str, spans: list[Span]) -> None:
    """Spans are stripped, ordered, disjoint, and hold every non-whitespace character exactly once."""
    covered = [0] * len(answer)
    previous_end = 0
    for s in spans:
        assert previous_end <= s.start < s.end <= len(answer), (s, spans)
        text = s.of(answer)
        assert text == text.strip(), f"span {s} is not stripped: {text!r}"
        for i in range(s.start, s.end):
            covered[i] += 1
        previous_end = s.end
    for i, ch in enumerate(answer):
        if not ch.isspace():
            assert covered[i] == 1, f"character {i} {ch!r} is covered {covered[i]} times in {answer!r}"


def sentences(answer: str) -> list[str]:
    spans = split_sentences(answer)
    assert_covers_exactly(answer, spans)
    return [s.of(answer) for s in spans]


# --- split_sentences ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("Paris is big. It is old.", ["Paris is big.", "It is old."]),
        (
            "Dr. Smith met Mr. Jones on Jan. 5. Use fruit, e.g. apples. We met at 9 a.m. and left.",
            ["Dr. Smith met Mr. Jones on Jan. 5.", "Use fruit, e.g. apples.", "We met at 9 a.m. and left."],
        ),
        (
            "It cost $3.50 and rose 2.5% this year. Python 3.12.1 is out. See v1.2.3 for details.",
            ["It cost $3.50 and rose 2.5% this year.", "Python 3.12.1 is out.", "See v1.2.3 for details."],
        ),
        ("Is it big? Yes! Very big.", ["Is it big?", "Yes!", "Very big."]),
        ('He said "Hi." Then he left.', ['He said "Hi."', "Then he left."]),
        ("It was built in 1872\u2026 Then it burned.", ["It was built in 1872\u2026", "Then it burned."]),
        ("Mira f\u00fchrt die B\u00e4ckerei. \U0001f35e Sie verkauft Brot.",
         ["Mira f\u00fchrt die B\u00e4ckerei.", "\U0001f35e Sie verkauft Brot."]),
        ("No. #5 is here. It works.", ["No. #5 is here.", "It works."]),  # only an emoji stands in for a capital
        # abbreviations the English splitter does not know; a lone letter may still end a sentence
        ("Sie verkauft z. B. Brot, d. h. Kuchen. Es kostet ca. 5 Euro. Gut.",
         ["Sie verkauft z. B. Brot, d. h. Kuchen.", "Es kostet ca. 5 Euro.", "Gut."]),
        ("It costs approx. 5 EUR. Run ls -a. Then pick b. B is wrong.",
         ["It costs approx. 5 EUR.", "Run ls -a.", "Then pick b.", "B is wrong."]),
        # technical answers: a sentence may open with a code name, a flag, a path or inline code
        ("It counts Sunday as 7. weekday() is zero-based. Levels are crit or emerg. --since yesterday limits it.",
         ["It counts Sunday as 7.", "weekday() is zero-based.", "Levels are crit or emerg.",
          "--since yesterday limits it."]),
        (("Call Counter(words). most_common(10) returns ten. Edit it. /etc/x.cfg holds it. It is fast. "
          "getElementById returns one. Set it. `app.run()` starts it. Use it. app.config holds it."),
         ["Call Counter(words).", "most_common(10) returns ten.", "Edit it.", "/etc/x.cfg holds it.", "It is fast.",
          "getElementById returns one.", "Set it.", "`app.run()` starts it.", "Use it.", "app.config holds it."]),
        # ... and with a command or type in lower case after a word or a number, but never after an abbreviation
        (("Use e.g. --verbose or i.e. app.run() here. Run ls -a. --all is the same. See it. jsonb also works. "
          "Kept in pg_wal. dpkg -r removes it. It is 5 min. and more, etc. and so on. Dr. smith met us at 9 a.m. and left."),
         ["Use e.g. --verbose or i.e. app.run() here.", "Run ls -a.", "--all is the same.", "See it.",
          "jsonb also works.", "Kept in pg_wal.", "dpkg -r removes it.", "It is 5 min. and more, etc. and so on.",
          "Dr. smith met us at 9 a.m. and left."]),
        # ... and ordinary prose keeps its abbreviations, list numbers and quoted full stops
        (("Acme Inc. and its partners ship it. It weighs 5 lbs. and costs more. Two steps: 1. install it 2. run it. "
          'It prints "done." and exits. The Jan. release is out.'),
         ["Acme Inc. and its partners ship it.", "It weighs 5 lbs. and costs more.",
          "Two steps: 1. install it 2. run it.", 'It prints "done." and exits.', "The Jan. release is out."]),
        ("\u706f\u5854\u5efa\u4e8e1872\u5e74\u3002\u9762\u5305\u5e97\u5f88\u597d\uff01\u300c\u771f\u7684\uff1f\u300d\u662f\u3002",
         ["\u706f\u5854\u5efa\u4e8e1872\u5e74\u3002", "\u9762\u5305\u5e97\u5f88\u597d\uff01",
          "\u300c\u771f\u7684\uff1f\u300d", "\u662f\u3002"]),  # Chinese full stops, no space after them
        ("\u5e74\u3002[1]\u9762\u5305\u5e97\u3002 \u662f\u3002", ["\u5e74\u3002[1]", "\u9762\u5305\u5e97\u3002", "\u662f\u3002"]),
    ],
)
def test_plain_sentences(answer, expected):
    assert sentences(answer) == expected


@pytest.mark.parametrize(
    "answer, expected",
    [
        # a marker inside the sentence, before its full stop, stays there
        ("It rained [1]. Then it stopped.", ["It rained [1].", "Then it stopped."]),
        # leading markers of the next sentence move back to the sentence they cite
        ("Paris is big. [1] It is old.", ["Paris is big. [1]", "It is old."]),
        ("Paris is big. [2][3] It is old. [^1] Next one.", ["Paris is big. [2][3]", "It is old. [^1]", "Next one."]),
        # marker-only fragments, optionally with punctuation, merge into the previous sentence
        ("Paris is big. [2][3]. It is old.", ["Paris is big. [2][3].", "It is old."]),
        ("A is first. [doc-7]. B is here.", ["A is first. [doc-7].", "B is here."]),
        ("Paris is big.  [1]", ["Paris is big.  [1]"]),
        # markers glued to the full stop still end the sentence
        ("Paris is big.[1] It is old.[2][3]", ["Paris is big.[1]", "It is old.[2][3]"]),
        ("See [1, 2]. Then [3-5], ok.", ["See [1, 2].", "Then [3-5], ok."]),
        # a marker line after a newline belongs to the sentence before it
        ("Paris is big.\n[1]\nIt is old.", ["Paris is big.\n[1]", "It is old."]),
        # with no previous sentence, leading markers stay with their own sentence
        ("[1] Paris is big. It is old.", ["[1] Paris is big.", "It is old."]),
        ("[1]", ["[1]"]),
        # on a new line, leading markers are not moved across the line break
        ("Paris is big.\n[1] It is old.", ["Paris is big.", "[1] It is old."]),
    ],
)
def test_citation_markers(answer, expected):
    assert sentences(answer) == expected


@pytest.mark.parametrize("n", [3, 4, 5, 70])
def test_markers_only_a_chunks_id_reveals_are_kept_with_their_sentence_alike(n):
    marker = "[" + "<" * (n - 2) + "]"  # no built-in form reads it; parse_markers finds it by a chunk's id
    for answer, expected in [(f"Paris is big. {marker} It is old.", [f"Paris is big. {marker}", "It is old."]),
                             (f"Paris is big.{marker}. It is old.", [f"Paris is big.{marker}.", "It is old."]),
                             (f"Paris is big.\n{marker}", [f"Paris is big.\n{marker}"])]:
        at = answer.index(marker)
        assert [s.of(answer) for s in split_sentences(answer, [Span(at, at + n)])] == expected


def test_bullets_and_numbered_lists_keep_their_markers():
    answer = (
        "Key facts:\n"
        "- Paris is big.\n"
        "* It is old. It is pretty.\n"
        "• It has a river [2].\n"
        "1. First item.\n"
        "2) Second item\n"
        "10. Tenth item."
    )
    assert sentences(answer) == [
        "Key facts:",
        "- Paris is big.",
        "* It is old.",
        "It is pretty.",
        "• It has a river [2].",
        "1. First item.",
        "2) Second item",
        "10. Tenth item.",
    ]


def test_newlines_are_hard_boundaries():
    # no full stop at the end of the line, yet the next line is a new sentence
    assert sentences("Title without stop\nBody text here.") == ["Title without stop", "Body text here."]


def test_blank_lines_crlf_and_multiple_spaces():
    answer = "Intro line.\r\n\r\n  Spaces   here.  Two   words.\r\n\r\n\r\nLast one. "
    assert sentences(answer) == ["Intro line.", "Spaces   here.", "Two   words.", "Last one."]


def test_unicode_and_unusual_whitespace():
    answer = "Le café – naïve. Über alles.\u00a0Next one.\tTabbed one. Emoji 🙂 ok. Élan «vital»."
    assert sentences(answer) == [
        "Le café – naïve.",
        "Über alles.",
        "Next one.",
        "Tabbed one.",
        "Emoji 🙂 ok.",
        "Élan «vital».",
    ]


def test_spans_index_the_original_answer():
    answer = "  First   one.\n\nSecond [1]."
    assert split_sentences(answer) == [Span(2, 14), Span(16, 27)]


@pytest.mark.parametrize("answer", ["", "   ", "\n\n", " \r\n\t "])
def test_blank_answer_gives_no_sentences(answer):
    assert split_sentences(answer) == []


def test_generated_answers_keep_the_invariants():
    """Property check over random mixes of the awkward pieces LLM answers contain."""
    words = ["Paris", "is", "big", "Dr.", "e.g.", "a.m.", "$3.50", "2.5%", "v1.2", "café", "naïve", "–", "🙂",
             "[1]", "[2][3]", "[doc-7]", "[^1]", "it", "Jan.", "U.S.", "(see", "x)", '"quoted"', "1."]
    ends = [".", "?", "!", ". [1]", " [2].", ".[3]", "", ":"]
    seps = [" ", "  ", "\n", "\n\n", "\r\n", "\t", "\u00a0", " \n- ", "\n1. ", "\n• ", "\n[4]\n"]
    rng = random.Random(1234)
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 6)):
            parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + rng.choice(ends))
            parts.append(rng.choice(seps))
        answer = rng.choice(["", " ", "- ", "\n"]) + "".join(parts)
        spans = split_sentences(answer)
        assert_covers_exactly(answer, spans)
        # every sentence after the first has something besides citation markers
        for s in spans[1:]:
            assert not _looks_citation_only(s.of(answer)), (answer, s.of(answer))


def _looks_citation_only(text: str) -> bool:
    return re.fullmatch(r"(?:\[[^\]\s]+\][\s,;]*)+[.,;:!?]*", text) is not None


# --- char_to_token_spans -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bpe() -> ByteLevelBPETokenizer:
    """A tiny byte-level BPE trained here: its offsets behave like GPT-2/Llama-3 style tokenizers."""
    tok = ByteLevelBPETokenizer()
    corpus = ["Paris is big. It is old.", "The river is long.", "Paris has a river.", "Été, été, élan, Éric."] * 3
    tok.train_from_iterator(corpus, vocab_size=300, min_frequency=1, special_tokens=["<s>"], show_progress=False)
    return tok


def test_leading_space_tokens_go_to_the_next_sentence(bpe):
    text = "Paris is big. It is old."
    spans = split_sentences(text)
    enc = bpe.encode(text)
    assert enc.offsets[4] == (13, 16) and enc.tokens[4] == "ĠIt"  # the space is inside the token
    ranges = char_to_token_spans(text, enc.offsets, spans)
    assert ranges == [(0, 4), (4, 8)]
    assert "".join(enc.tokens[a] for a in range(*ranges[1])).replace("Ġ", " ") == " It is old."


def test_multibyte_characters_with_overlapping_offsets(bpe):
    text = "Paris is big. Été – naïve 🙂. Ok."
    enc = bpe.encode(text)
    # "É" is two bytes: a merged " É" token and the lone byte pieces of "–" and "🙂" share offsets
    assert ("ĠÃī", (13, 15)) in zip(enc.tokens, enc.offsets)
    assert enc.offsets.count((18, 19)) == 3 and enc.offsets.count((26, 27)) == 4
    spans = split_sentences(text)
    assert [s.of(text) for s in spans] == ["Paris is big.", "Été – naïve 🙂.", "Ok."]
    ranges = char_to_token_spans(text, enc.offsets, spans)
    assert ranges == [(0, 4), (4, 23), (24, 27)]
    # each range decodes to whole characters: no byte of a character went to another sentence
    for span, (a, b) in zip(spans, ranges):
        assert bpe.decode(enc.ids[a:b]).strip() == span.of(text)


def test_special_and_whitespace_only_tokens_belong_to_no_span(bpe):
    bpe.post_processor = TemplateProcessing(single="<s> $A <s>", special_tokens=[("<s>", bpe.token_to_id("<s>"))])
    try:
        text = "Paris is big.\n\n   It is old."
        enc = bpe.encode(text)
    finally:
        bpe.post_processor = None
    assert enc.offsets[0] == (0, 0) and enc.offsets[-1] == (0, 0)
    spans = split_sentences(text)
    ranges = char_to_token_spans(text, enc.offsets, spans)
    assert ranges[0][0] == 1  # the leading special token is skipped
    assert ranges[1][1] == len(enc.offsets) - 1  # so is the trailing one
    gap = range(ranges[0][1], ranges[1][0])
    assert len(gap) > 0 and all(text[s:e].isspace() for s, e in (enc.offsets[i] for i in gap))


def test_whitespace_tokens_inside_a_span_stay_inside_its_range(bpe):
    text = "Paris is big.\n[1] It is old."
    spans = [Span(0, 17), Span(18, 28)]  # "Paris is big.\n[1]" and "It is old."
    enc = bpe.encode(text)
    (a, b), (c, d) = char_to_token_spans(text, enc.offsets, spans)
    assert a == 0 and b == c and d == len(enc.offsets)
    assert "\n" in "".join(text[s:e] for s, e in enc.offsets[a:b])


def test_span_without_tokens_raises(bpe):
    text = "Paris is big. It is old."
    enc = bpe.encode(text)
    with pytest.raises(ValueError, match="no token"):
        char_to_token_spans(text, enc.offsets, [Span(0, 13), Span(13, 14)])  # only the space
    with pytest.raises(ValueError, match="no token"):  # the text was truncated before the 2nd span
        char_to_token_spans(text, enc.offsets[:4], [Span(0, 13), Span(14, 24)])


def test_span_starting_inside_a_token_gets_no_token():
    # one token "ab" starts in the first span, so the second span has no token of its own
    with pytest.raises(ValueError, match="span 1"):
        char_to_token_spans("ab c", [(0, 2), (2, 4)], [Span(0, 1), Span(1, 2)])


def test_overlapping_spans_are_rejected():
    with pytest.raises(ValueError, match="overlap"):
        char_to_token_spans("abcd", [(0, 2), (2, 4)], [Span(0, 3), Span(2, 4)])


# --- locate_chunks -----------------------------------------------------------------------------


def test_exact_match():
    prompt = "Context:\nParis is the capital.\nIt has a river.\nQuestion: ?"
    chunks = [Chunk("a", "Paris is the capital."), Chunk("b", "It has a river.")]
    spans = locate_chunks(prompt, chunks)
    assert [s.of(prompt) for s in spans] == ["Paris is the capital.", "It has a river."]
    assert spans == [Span(9, 30), Span(31, 46)]


def test_out_of_order_chunks():
    prompt = "[1] First passage.\n[2] Second passage."
    spans = locate_chunks(prompt, [Chunk("2", "Second passage."), Chunk("1", "First passage.")])
    assert [s.of(prompt) for s in spans] == ["Second passage.", "First passage."]
    assert spans[0].start > spans[1].start


def test_repeated_text_takes_the_next_free_occurrence():
    prompt = "Doc: same text. Doc: same text. Doc: other."
    spans = locate_chunks(prompt, [Chunk("a", "same text."), Chunk("b", "same text."), Chunk("c", "other.")])
    assert spans == [Span(5, 15), Span(21, 31), Span(37, 43)]


def test_chunk_inside_another_chunk_is_not_overlapped():
    prompt = "big city. Paris is a big city."
    spans = locate_chunks(prompt, [Chunk("a", "Paris is a big city."), Chunk("b", "big city.")])
    assert spans == [Span(10, 30), Span(0, 9)]


def test_search_starts_at_start():
    prompt = "Answer like this: Paris is big.\nContext: Paris is big."
    (span,) = locate_chunks(prompt, [Chunk("a", "Paris is big.")], start=20)
    assert span == Span(41, 54)


def test_whitespace_insensitive_fallback_returns_original_span():
    prompt = "Context:\n  Paris   is the\n    capital.  \nEnd"
    (span,) = locate_chunks(prompt, [Chunk("a", "\n Paris is the capital.\t")])
    assert span.of(prompt) == "Paris   is the\n    capital."


def test_exact_match_is_preferred_over_whitespace_match():
    prompt = "Paris  is big. Paris is big."
    (span,) = locate_chunks(prompt, [Chunk("a", "Paris is big.")])
    assert span == Span(15, 28)


def test_chunk_whitespace_at_the_ends_is_not_part_of_the_span():
    prompt = "Paris  is big. Paris is big.\nQuestion?"
    (span,) = locate_chunks(prompt, [Chunk("a", "Paris is big.\n")])
    assert span == Span(15, 28)


def test_not_found_message_names_chunk_snippet_and_fix():
    text = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris, France, and it is tall."
    with pytest.raises(ChunkNotFoundError) as info:
        locate_chunks("Context: nothing relevant.", [Chunk("doc-42#3", text)])
    message = str(info.value)
    assert "doc-42#3" in message
    assert text[:60] in message and text[:80] not in message
    assert "pass the prompt the model actually saw, or the chunk text exactly as it appears in it" in message


def test_not_found_when_only_occurrence_is_taken_or_before_start():
    with pytest.raises(ChunkNotFoundError, match="only inside the text of chunk"):
        locate_chunks("Paris is big.", [Chunk("a", "Paris is big."), Chunk("b", "Paris is big.")])
    with pytest.raises(ChunkNotFoundError, match="before character 10"):
        locate_chunks("Paris is big. Other.", [Chunk("a", "Paris is big.")], start=10)


def test_not_found_is_a_value_error():
    # callers that catch ValueError keep working
    with pytest.raises(ValueError):
        locate_chunks("abc", [Chunk("x", "zzz")])
