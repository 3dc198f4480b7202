"""The families_a set (Apache httpd, HAProxy and CMake documentation): rebuilt byte for byte, chunks verbatim."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import pytest

from rag_attrib.eval.data import parse_case
from rag_attrib.eval.provenance import check_provenance, missing_packages

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "rag_attrib" / "eval" / "data" / "families_a.jsonl"


@pytest.fixture(scope="module")
def build():
    sys.path.insert(0, str(ROOT / "benchmarks" / "families"))
    return importlib.import_module("build_families_a")


@pytest.fixture(scope="module")
def records():
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def _needs_packages(records) -> None:
    # the style labels are checked by the build; parse_case checks the keys the loader knows
    missing = missing_packages(parse_case({**r, "style": None}) for r in records)
    if missing:
        reason = f"install the Debian packages {' '.join(missing)} to check where the families_a chunks come from"
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run installs them)")
        pytest.skip(reason)


def test_the_shipped_file_keeps_the_rules_of_the_set(build, records):
    assert build.check(records) == []
    for family in build.PACKAGES:
        mine = [r for r in records if r["family"] == family]
        assert [r["split"] for r in mine] == ["dev", "test"] * 5, family


def test_the_checks_refuse_copied_runs_and_answer_text_that_is_not_the_sentences(build, records):
    heavy = next(r for r in records if r["style"] == "heavy")
    copied = " ".join(heavy["chunks"][0]["text"].split()[:6]) + "."
    bad = {**heavy, "answer": [*heavy["answer"], {"text": copied, "gold": None, "kind": "general"}]}
    bad["answer_text"] = heavy["answer_text"] + " " + copied
    assert any("heavy paraphrase shares" in p for p in build.check([bad]))
    extra = {**heavy, "answer_text": heavy["answer_text"] + " Unlabelled."}
    assert any("unlabelled text" in p for p in build.text_problems(extra))
    swapped = {**heavy, "answer": heavy["answer"][::-1]}
    assert any("lacks (in order)" in p for p in build.text_problems(swapped))


def test_rebuilding_gives_the_shipped_file_byte_for_byte(build, records):
    _needs_packages(records)
    assert build.build() == DATA.read_text(encoding="utf-8")


def test_every_chunk_is_verbatim_text_of_its_installed_file(records):
    _needs_packages(records)
    assert check_provenance(parse_case({**r, "style": None}) for r in records) == []
