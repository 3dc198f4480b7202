"""Every Python snippet of docs/streaming.md runs (on the embedded SmolLM2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "streaming.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_page_has_snippets():
    assert len(SNIPPETS) == 2


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs(index, tmp_path, monkeypatch):
    if "rag_attrib_langchain" in SNIPPETS[index]:
        pytest.importorskip("rag_attrib_langchain")
    monkeypatch.chdir(tmp_path)
    exec(compile(SNIPPETS[index], f"docs/streaming.md snippet {index}", "exec"), {"__name__": "__docs__"})  # noqa: S102
