"""The HTML report (escaping, self-contained) and the terminal heat map; the browser test opens the page in
headless Chromium, clicks a sentence and checks the heat map follows."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from rich.console import Console

from rag_attrib import Chunk
from rag_attrib.render.html import render_html, render_report
from rag_attrib.render.terminal import heat_map, print_result
from rag_attrib.verify import verify

EVIL = Chunk("evil", "Beware <script>window.pwned = 1; alert('x')</script> & </script><img src=x onerror=alert(1)>")
CHUNKS = [Chunk("lighthouse", "The lighthouse of Quenby was built by Harald Voss in 1872."), EVIL,
          Chunk("ferry", "Quenby is reached by ferry from Ardel.")]
ANSWER = "Harald Voss built the lighthouse [1]. The ferry leaves from Ardel [3]. Bold <b>claim</b> here."


@pytest.fixture
def verification(tiny_attributor):
    return verify(tiny_attributor, "Who built it <script>?", CHUNKS, ANSWER)


def test_user_text_is_escaped_everywhere(verification):
    page = render_html(verification.result, verification)
    assert "<script>window.pwned" not in page
    assert "<img src=x" not in page
    assert "<b>claim</b>" not in page and "&lt;b&gt;claim&lt;/b&gt;" in page
    assert "Who built it &lt;script&gt;?" in page
    # the page has exactly its own two scripts: the JSON data block and the page script
    assert len(re.findall(r"<script", page)) == 2


def test_report_is_self_contained(verification):
    page = render_report([("one", verification.result, verification)], errors=[("line 9", "not valid JSON")])
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page)
    assert "@import" not in page and "url(" not in page
    assert "line 9" in page and "not valid JSON" in page


def test_result_to_html_without_token_relevance(tiny_attributor):
    result = tiny_attributor.attribute("Who?", CHUNKS, "Harald Voss.")
    from rag_attrib import AttributionResult

    slim = AttributionResult.from_dict(result.to_dict(token_relevance=False))
    page = slim.to_html()
    assert "Harald Voss." in page and "Quenby is reached by ferry from Ardel." in page


def test_terminal_heat_map_covers_the_top_chunk(verification):
    result = verification.result
    text = heat_map(result, 0)
    top = result.chunk(result.sentences[0].citations[0].chunk_id)
    assert text.plain == top.text
    console = Console(record=True, width=120)
    print_result(result, console=console)
    out = console.export_text()
    assert "Where each sentence came from" in out and "<script>window.pwned" in out  # literal, as text


# ---------------------------------------------------------------- in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def missing(reason: str) -> None:
    """Skip a test whose tool is missing here; under CI (CI=true), which must run every test, fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def test_report_in_headless_chromium(verification, tmp_path):
    if CHROMIUM is None:
        missing("Chromium is not installed (Debian: apt-get install chromium; `make setup` does it as root)")
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is not installed (pip install playwright)")
    path = tmp_path / "report.html"
    path.write_text(render_html(verification.result, verification), encoding="utf-8")
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1100, "height": 1200})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        sentences = page.locator(".sent")
        assert sentences.count() == len(verification.sentences) == 3
        assert sentences.nth(2).inner_text() == "Bold <b>claim</b> here."
        assert "Sentence 1:" in page.locator(".selected-label").inner_text()

        sentences.nth(1).click()
        assert page.locator(".sent.selected").get_attribute("data-i") == "1"
        assert "Sentence 2: The ferry leaves from Ardel." in page.locator(".selected-label").inner_text()
        shaded = page.eval_on_selector_all(".chunk .tok", "els => els.filter(e => e.style.background).length")
        assert shaded > 10
        evil = page.locator(".chunk[data-chunk='evil']").inner_text()
        assert "<script>window.pwned = 1;" in evil  # shown as text
        assert page.evaluate("window.pwned === undefined") and not dialogs
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
