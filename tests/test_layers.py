"""The package's layers: the core never loads a feature at import time, and each concept has one home."""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import re
import subprocess
import sys
import warnings

import pytest

import rag_attrib

PACKAGE = pathlib.Path(rag_attrib.__file__).parent
CORE = ["attribute", "text", "prompt", "aggregate", "types", "lrp", "markers", "verdicts", "support", "stream"]
FEATURES = ["verification", "render", "eval", "batch", "ray_engine", "serve", "cli"]


def test_the_core_imports_no_feature_module():
    code = (f"import sys\nfor name in {CORE!r}: __import__('rag_attrib.' + name)\n"
            "import json; print(json.dumps(sorted(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stderr
    loaded = [m.split(".") for m in json.loads(run.stdout)]
    assert [".".join(m) for m in loaded if m[0] == "rag_attrib" and m[1:2] and m[1] in FEATURES] == []


# Markers as LLMs write them, and text that is none: a regular expression that reads some of the first and
# none of the second is a marker pattern.
MARKERS = ["[1]", "[doc-7]", "[1, 2]", "【1†source】", "[Source 1]", "(Sources: 1, 2)", "[citation:2]"]
NOT_MARKERS = ["abc", "(1)", "a b c d e f", "[a b c]"]
# Not markers in an answer: the "[1] " labels at the start of a chunk file's lines.
OTHER_CONCEPTS = {("chunk_file.py", r"\s*\[(\d+)\]")}


def test_marker_patterns_are_defined_only_in_markers_py():
    """A string in the package's source that, read as a regular expression, matches a citation marker whole."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "markers.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 3:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pattern = re.compile(node.value)
                except re.error:
                    continue
                if (any(map(pattern.fullmatch, MARKERS)) and not any(map(pattern.fullmatch, NOT_MARKERS))
                        and (str(path.relative_to(PACKAGE)), node.value) not in OTHER_CONCEPTS):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}")
    assert found == []


# Private names a module may take from another rag_attrib module, each with its reason; none today.
PRIVATE_IMPORTS: dict[tuple[str, str], str] = {}


def test_no_module_uses_a_private_name_of_another_rag_attrib_module():
    """``from .x import _name``, ``import rag_attrib.x as m; m._name``: what one module shares with another is
    public in its home, so a reader knows it is used elsewhere."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ours = set()  # the names this module bound to another rag_attrib module or to something imported from one
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "rag_attrib"):
                for alias in node.names:
                    ours.add(alias.asname or alias.name)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append((where, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "rag_attrib":
                        ours.add(alias.asname or "rag_attrib")
                        found += [(where, part) for part in alias.name.split(".") if part.startswith("_")
                                  and not part.startswith("__")]
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ours
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append((where, f"{node.value.id}.{node.attr}"))
    assert [f for f in found if f not in PRIVATE_IMPORTS] == []


# Public names given clearer ones, as (earlier module, earlier name, module, name): user code keeps working.
RENAMED = [
    ("rag_attrib.check", "check_model", "rag_attrib.model_check", "check_model"),
    ("rag_attrib.check", "CheckReport", "rag_attrib.model_check", "CheckReport"),
    ("rag_attrib.prompt", "render_foreign", "rag_attrib.prompt", "render_given_prompt"),
]


@pytest.mark.parametrize(("old_module", "old", "module", "name"), RENAMED)
def test_renamed_public_names_stay_importable_under_their_earlier_names(old_module, old, module, name):
    assert getattr(importlib.import_module(old_module), old) is getattr(importlib.import_module(module), name)
