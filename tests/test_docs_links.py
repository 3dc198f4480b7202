"""Every relative link in the README and the docs leads somewhere: the file exists and, for ``#anchor``, the
page it names has that heading, spelled as GitHub spells its anchors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md")),
         *sorted((ROOT / "integrations").glob("*/README.md"))]
# Links to pages another branch brings; strict: once the page exists, its entry must go.
PENDING: dict[tuple[str, str], str] = {}

FENCED = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+).+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text outside code: fenced blocks and inline code hold no links or headings."""
    return INLINE_CODE.sub(lambda m: m.group(0).strip("`"), FENCED.sub("", text))


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: links reduced to their text, lower case, every character that is not a
    letter, digit, space, hyphen or underscore dropped, spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(prose(page.read_text(encoding="utf-8"))):
        slug = github_anchor(heading.replace("`", ""))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen.setdefault(f"{slug}-{count}", 1)
    return set(seen)


def broken(page: Path, target: str) -> str | None:
    """Why a link from ``page`` to ``target`` leads nowhere, or None."""
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    if not dest.exists():
        return f"{path} does not exist"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{path or dest.name} has no heading with anchor #{anchor}"
    return None


def links() -> list:
    found = []
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            reason = PENDING.get((name, target.partition("#")[0]))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            found.append(pytest.param(page, target, marks=marks, id=f"{name} -> {target}"))
    return found


LINKS = links()


def test_docs_have_links():
    assert len(LINKS) > 40


@pytest.mark.parametrize(("page", "target"), LINKS)
def test_link_resolves(page, target):
    assert broken(page, target) is None, broken(page, target)


@pytest.mark.parametrize(("heading", "anchor"), [
    ("The thresholds, measured", "the-thresholds-measured"),
    ("A whole file: `rag-attrib verify`", "a-whole-file-rag-attrib-verify"),
    ("Attribution cost against one forward pass (`bench_attribute.py`)",
     "attribution-cost-against-one-forward-pass-bench_attributepy"),
    ("📄 License", "-license"),
    ("See [Models](docs/models.md) here", "see-models-here"),
])
def test_github_anchor(heading, anchor):
    assert github_anchor(heading.replace("`", "")) == anchor


def test_broken_links_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## Part two\n\n## Part two\n\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text("x")
    assert broken(page, "other.md#part-two") is None
    assert broken(page, "other.md#part-two-1") is None
    assert broken(page, "other.md#not-a-heading") == "other.md has no heading with anchor #not-a-heading"
    assert broken(page, "missing.md") == "missing.md does not exist"
