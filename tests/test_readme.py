"""Every Python snippet in the README and the docs pages runs, as written.

A snippet that loads a real model (``Attributor.load``, ``load_model``) is marked slow; the others (a tiny random
model, the architecture registry) run in the fast suite too.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from rag_attrib.lrp.arch import base as arch_base

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LOADS_REAL_MODEL = re.compile(r"\bAttributor\.load\(|\bload_model\(")
SERVICE_URL = "http://127.0.0.1:8000"  # a snippet that calls `rag-attrib serve` gets the real service on a free port


def snippets() -> list:
    found = []
    for page in PAGES:
        codes = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for index, code in enumerate(codes):
            name = f"{page.relative_to(ROOT).as_posix()} snippet {index}"
            marks = [pytest.mark.slow] if LOADS_REAL_MODEL.search(code) else []
            found.append(pytest.param(name, code, marks=marks, id=name))
    return found


SNIPPETS = snippets()


def test_pages_have_snippets():
    pages = {param.values[0].split(" snippet ")[0] for param in SNIPPETS}
    assert {"README.md", "docs/api.md", "docs/verification.md", "docs/how-it-works.md", "docs/models.md",
            "docs/langchain.md", "docs/llamaindex.md"} <= pages


@pytest.mark.parametrize(("name", "code"), SNIPPETS)
def test_snippet_runs(name, code, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(arch_base, "_REGISTRY", dict(arch_base._REGISTRY))  # a snippet may register a family
    with contextlib.ExitStack() as stack:
        if SERVICE_URL in code:
            from test_serve import serving

            url, _ = stack.enter_context(serving(request.getfixturevalue("tiny_attributor")))
            code = code.replace(SERVICE_URL, url)
        exec(compile(code, name, "exec"), {"__name__": "__readme__"})
