"""families_b: Flask, Celery and Go documentation cut verbatim, labelled by answer style (issue 28).

The build script checks every label rule when it writes the file; here the shipped file is checked against
the same rules, rebuilt byte for byte from the installed packages, and every chunk is found in its file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rag_attrib.eval.provenance import check_provenance, missing_packages

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "families"))

import build_families_b as build


@pytest.fixture(scope="module")
def records():
    return [json.loads(line) for line in build.OUT.read_text(encoding="utf-8").splitlines()]


def _need_packages(records):
    missing = missing_packages(build.as_cases(records))
    if missing:
        reason = f"install the Debian packages {' '.join(missing)} to check where the families_b chunks come from"
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run installs them)")
        pytest.skip(reason)


def test_shipped_file_keeps_every_label_rule(records):
    assert [p for r in records for p in build.problems(r)] == []
    for family in build.FAMILIES:
        assert build.family_problems(family, [r for r in records if r["family"] == family]) == []
    assert len(records) == 30 and len({r["id"] for r in records}) == 30


def test_every_label_points_into_its_chunks(records):
    for r in records:
        texts = {c["id"]: c["text"] for c in r["chunks"]}
        for s in r["answer"]:
            spans = s["evidence"] if s["gold"] else s.get("conflicts_with", {})
            assert (s["gold"] is None) == ("kind" in s), (r["id"], s["text"])
            assert ("conflicts_with" in s) == (s.get("kind") == "contradiction"), (r["id"], s["text"])
            for cid, pairs in spans.items():
                assert pairs and all(0 <= a < b <= len(texts[cid]) for a, b in pairs), (r["id"], s["text"])


def test_heavy_check_catches_a_copied_run():
    chunk = "The default serializer is JSON , but you can change this using the task_serializer setting."
    assert build.shared_runs("By default the serializer is JSON but you can change this using settings.", chunk)
    assert not build.shared_runs("JSON is what Celery picks unless task_serializer says otherwise.", chunk)


def test_rebuild_is_byte_identical(records):
    _need_packages(records)
    assert build.serialise(build.build()) == build.OUT.read_text(encoding="utf-8")


def test_every_chunk_is_verbatim_text_of_its_installed_file(records):
    _need_packages(records)
    assert check_provenance(build.as_cases(records)) == []
