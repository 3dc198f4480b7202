"""The ``contradicted`` verdict: a carried sentence whose top chunk's evidence passage states another value."""

from __future__ import annotations

import json

import pytest

from rag_attrib.render.html import VERDICT_COLOURS, VERDICT_HELP
from rag_attrib.render.terminal import VERDICT_STYLES
from rag_attrib.support import contradiction, typed_conflict
from rag_attrib.types import AttributionResult, Chunk, Citation, Conflict, Evidence, Span
from rag_attrib.verdicts import VERDICTS, verdict

CHUNK = Chunk("reflog", "Git keeps a log of every branch tip. The reflogs are kept by default for 90 days. "
                        "Run git gc --prune=now to drop them.")


@pytest.mark.parametrize("sentence, kinds", [
    ("Reflog entries stay for 30 days by default.", ("number",)),
    ("Reflog entries stay for 90 days by default.", ()),
    ("Reflog entries are kept for ninety days at most.", ()),  # the number in words
    ("Reflog entries are not kept by default.", ()),  # negation: as often a paraphrase as a contradiction
    ("The reflogs are kept for the maximum of 90 days.", ()),
    ("Run git gc --aggressive to drop them at once.", ("flag",)),
    ("git gc --prune=now drops them.", ()),
])
def test_a_sentence_that_states_another_value_than_its_evidence_conflicts(sentence, kinds):
    passage = "The reflogs are kept by default for 90 days." if "days" in sentence or "kept" in sentence else \
        "Run git gc --prune=now to drop them."
    assert typed_conflict(sentence, passage, CHUNK.text) == kinds


def test_a_value_the_chunk_states_elsewhere_is_no_conflict():
    """A number the sentence takes from another part of its chunk is not another value of the evidence's."""
    chunk = "The default is 90 days. Older entries after 30 days are pruned when unreachable."
    assert typed_conflict("Unreachable entries go after 30 days.", "The default is 90 days.", chunk) == ()


def test_numbers_in_words_and_with_separators_are_numbers():
    assert typed_conflict("It holds 1000 rows.", "It holds 1,000 rows.", "It holds 1,000 rows.") == ()
    assert typed_conflict("iota starts at two.", "iota starts at zero.", "iota starts at zero.") == ("number",)
    assert typed_conflict("iota starts at 0.", "iota starts at zero.", "iota starts at zero.") == ()


@pytest.mark.parametrize("sentence, passage", [
    ("Set the timeout, e.g. to 30 seconds.", "Set request.timeout to 30."),  # "e.g" is no code name
    ("Call app.run() to start it.", "Start it with app.run(debug=True)."),  # a call with or without its arguments
    ("Run make install after make.", "Run make before make install."),  # before/after: paraphrase trades them
    ("It costs $5.", "It costs $5.00."),
    ("The job runs at 10.30.", "The job runs at 10:30."),
    ("It holds \u0663 items.", "It holds 3 items."),  # digits of another script
    ("Pick one of the modes.", "There are 3 modes."),  # "one" is a pronoun as often as a number
    ("It takes twenty-five seconds.", "It takes 25 seconds."),  # a compound number word is not read
])
def test_ordinary_paraphrases_are_no_conflict(sentence, passage):
    assert typed_conflict(sentence, passage, passage) == ()


def test_one_word_of_an_opposite_pair_where_the_passage_has_the_other_conflicts():
    passage = "The number of elements copied is the minimum of len(src) and len(dst)."
    assert typed_conflict("copy returns the maximum of the two lengths.", passage, passage) == ("opposite",)
    assert typed_conflict("copy returns the smaller of the two lengths, the minimum.", passage, passage) == ()


def test_the_conflict_names_the_chunk_and_the_evidence_passage():
    span = Span(37, 81)
    top = Citation("reflog", 3.0, 0.6, (Evidence(span, 1.0),))
    conflict = contradiction("Reflog entries stay for 30 days by default.", top, CHUNK)
    assert conflict == Conflict("reflog", span, ("number",))
    assert span.of(CHUNK.text) == "The reflogs are kept by default for 90 days."
    assert contradiction("Reflog entries stay for 90 days by default.", top, CHUNK) is None
    # a value the question asks about is no conflict
    assert contradiction("To keep them 30 days, set gc.reflogExpire.", top, CHUNK, "How do I keep them 30 days?") is None


def test_the_verdict_rule():
    assert verdict((), ("a",), True, "a") == "ungrounded"  # no chunk carries it: nothing to contradict
    assert verdict(("a",), ("a",), True, "a") == "contradicted"
    assert verdict(("a",), (), False, "a") == "contradicted"
    assert verdict(("a", "b"), ("b",), True, "a") == "supported"  # it cites another chunk that carries it
    assert verdict(("b",), ("b",), True, "a") == "supported"  # the conflicting chunk does not carry it
    assert verdict(("a",), ("a",), True, None) == "supported"
    assert verdict(("a",), ("b",), True, None) == "miscited"
    assert verdict(("a",), (), False, None) == "uncited"


def test_every_view_knows_every_verdict_and_no_other():
    assert set(VERDICT_COLOURS) == set(VERDICT_HELP) == set(VERDICT_STYLES) == set(VERDICTS)


def test_a_conflict_survives_the_json_round_trip_and_older_results_load_without_one(tiny_result):
    conflict = Conflict("a", Span(0, 3), ("number",))
    d = tiny_result.to_dict()
    d["sentences"][0]["conflict"] = conflict.to_dict()
    back = AttributionResult.from_dict(json.loads(json.dumps(d)))
    assert back.sentences[0].conflict == conflict
    del d["sentences"][0]["conflict"]
    assert AttributionResult.from_dict(d).sentences[0].conflict is None


@pytest.fixture
def tiny_result(tiny_attributor):
    return tiny_attributor.attribute("How long?", [Chunk("a", "Kept 90 days.")], "Kept 30 days.")


def test_verify_calls_a_carried_sentence_that_its_chunk_contradicts_contradicted(tiny_attributor):
    """End to end on a tiny model: one chunk, carried by construction (a support of 1), states 90 where the
    sentence says 30; the verdict names the chunk and the passage, and the summary counts it."""
    from rag_attrib import verify

    tiny_attributor.support = lambda signals: 1.0
    tiny_attributor.min_share = 0.0
    chunks = [Chunk("a", "The reflogs are kept for 90 days."), Chunk("b", "Other text here.")]
    checked = verify(tiny_attributor, "How long?", chunks, "The reflogs are kept for 30 days [a].")
    (sentence,) = checked.sentences
    assert sentence.verdict == "contradicted"
    assert sentence.conflict.chunk_id == "a" and sentence.conflict.kinds == ("number",)
    assert "90 days" in sentence.conflict.span.of(chunks[0].text)
    assert checked.to_dict()["summary"]["verdicts"]["contradicted"] == 1
    same = verify(tiny_attributor, "How long?", chunks, "The reflogs are kept for 90 days [a].")
    assert same.sentences[0].verdict == "supported"
    tiny_attributor.contradictions = False
    assert verify(tiny_attributor, "How long?", chunks, "The reflogs are kept for 30 days [a].").sentences[0].verdict \
        == "supported"


@pytest.mark.parametrize("evidence", ["none", "cited", "all"])
def test_the_conflict_does_not_depend_on_which_evidence_the_result_shows(tiny_attributor, evidence):
    """The contradiction check reads its top chunk's evidence whether or not the result shows it (``evidence``
    "none", or "cited" with nothing cited), and reuses it where the result does."""
    tiny_attributor.support = lambda signals: 1.0
    chunks = [Chunk("a", "The reflogs are kept for 90 days."), Chunk("b", "Other text here.")]
    tiny_attributor.min_share = 0.0
    shown = tiny_attributor.attribute("How long?", chunks, "The reflogs are kept for 30 days.").sentences[0]
    tiny_attributor.evidence, tiny_attributor.support = evidence, lambda signals: 0.0  # nothing cited
    sentence = tiny_attributor.attribute("How long?", chunks, "The reflogs are kept for 30 days.").sentences[0]
    assert sentence.cited == () and sentence.conflict == shown.conflict and shown.conflict is not None
    assert all(not c.evidence for c in sentence.citations) == (evidence != "all")
