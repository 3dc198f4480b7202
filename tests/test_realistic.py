"""The realistic set: real documentation cut verbatim, labelled as the issue asks, split into dev and test."""

from __future__ import annotations

import os

import pytest

from rag_attrib.eval.data import UNSUPPORTED_KINDS, load_cases
from rag_attrib.eval.provenance import check_provenance, missing_packages


@pytest.fixture(scope="module")
def cases():
    return {split: load_cases(f"realistic-{split}") for split in ("dev", "test")}


def test_dev_and_test_are_disjoint_and_labelled(cases):
    dev, test = cases["dev"], cases["test"]
    assert {c.split for c in dev} == {"dev"} and {c.split for c in test} == {"test"}
    assert not {c.id for c in dev} & {c.id for c in test}
    everything = dev + test
    assert len(everything) >= 80
    sentences = [s for c in everything for s in c.sentences]
    unsupported = [s for s in sentences if not s.supported]
    assert len(unsupported) >= 0.2 * len(sentences)
    assert {s.kind for s in unsupported} == set(UNSUPPORTED_KINDS)
    assert sum(len(s.gold) >= 2 for s in sentences) >= 0.1 * len(sentences)
    for case in everything:
        assert 6 <= len(case.chunks) <= 10 and 2 <= len(case.sentences) <= 4, case.id
        assert all(80 <= len(c.text.split()) <= 250 for c in case.chunks), case.id
        for s in case.sentences:
            if s.supported:  # every supported sentence has its evidence in every gold chunk
                assert s.evidence is not None and set(s.evidence) == set(s.gold), (case.id, s.text)


def test_gold_chunks_sit_at_every_position(cases):
    thirds = [0, 0, 0]
    for case in cases["dev"] + cases["test"]:
        for i, s in enumerate(case.sentences):
            for g in case.gold_indices(i):
                thirds[min(2, 3 * g // len(case.chunks))] += 1
    assert min(thirds) >= 0.2 * sum(thirds), thirds


def test_every_chunk_is_verbatim_text_of_its_installed_file(cases):
    everything = cases["dev"] + cases["test"]
    missing = missing_packages(everything)
    if missing:
        reason = f"install the Debian packages {' '.join(missing)} to check where the realistic chunks come from"
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run installs them)")
        pytest.skip(reason)
    assert check_provenance(everything) == []
