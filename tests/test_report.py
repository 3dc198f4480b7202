"""The HTML report (escaping, self-contained, summary, one scale per sentence, evidence marks, a notebook
fragment, 1,000 records) and the terminal views; the browser tests open the page in headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil

import pytest
from rich.console import Console

from rag_attrib import Chunk
from rag_attrib.render import CARRIED, chunk_tokens, sentence_peaks
from rag_attrib.render.html import CARRIED_COLOURS, STYLE, VERDICT_COLOURS, render_html, render_report
from rag_attrib.render.terminal import heat_map, print_result
from rag_attrib.verification import verify

EVIL = Chunk("evil", "Beware <script>window.pwned = 1; alert('x')</script> & </script><img src=x onerror=alert(1)>")
CHUNKS = [Chunk("lighthouse", "The lighthouse of Quenby was built by Harald Voss in 1872. It is painted green."), EVIL,
          Chunk("ferry", "Quenby is reached by ferry from Ardel.")]
ANSWER = "Harald Voss built the lighthouse [1]. The ferry leaves from Ardel [3]. Bold <b>claim</b> here."


@pytest.fixture(scope="module")
def verification():
    from tiny_models import byte_tokenizer, tiny_llama

    from rag_attrib import Attributor

    tokenizer = byte_tokenizer()
    model = tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=2048, scale=1.0)
    attributor = Attributor(model, tokenizer, max_new_tokens=12, evidence="all")  # every chunk has evidence
    return verify(attributor, "Who built it <script>?", CHUNKS, ANSWER)


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
    only_errors = render_report([], errors=[("line 9", "not valid JSON")])
    assert "<b>0</b><span>answers</span>" in only_errors and "Not verified (1)" in only_errors


def test_result_to_html_without_token_relevance(tiny_attributor):
    result = tiny_attributor.attribute("Who?", CHUNKS, "Harald Voss.")
    from rag_attrib import AttributionResult

    slim = AttributionResult.from_dict(result.to_dict(token_relevance=False))
    page = slim.to_html()
    assert "Harald Voss." in page and "Quenby is reached by ferry from Ardel." in page


def test_summary_has_the_verdict_counts_and_citation_precision_and_recall(verification):
    from rag_attrib.verification import summarize

    summary = summarize([verification])
    page = render_report([("a", verification.result, verification), ("b", verification.result, verification)])
    head = page[: page.index("<details")]  # the summary comes before the records
    for verdict, count in summary["verdicts"].items():
        assert f"data-filter='{verdict}'" in head and f"{verdict} · {2 * count}<" in head
    for key, label in [("citation_precision", "citation precision"), ("citation_recall", "citation recall")]:
        value = "n/a" if summary[key] is None else f"{summary[key]:.0%}"
        assert f"<b>{value}</b><span>{label}</span>" in head


def test_the_legend_names_what_is_coloured(verification):
    plain = render_html(verification.result)  # an attribution: sentences coloured by whether a chunk carries them
    assert all(f"{html.escape(label)} · " in plain for label in CARRIED)
    assert not any(verdict in plain for verdict in VERDICT_COLOURS)
    checked = render_html(verification.result, verification)  # a verification: by verdict
    assert all(f"{verdict} · " in checked for verdict in VERDICT_COLOURS)
    assert not any(html.escape(label) in checked for label in CARRIED)


def test_table_columns_name_their_sentence(verification):
    page = render_html(verification.result)
    for i, s in enumerate(verification.result.sentences):
        assert f"<th data-i='{i}' title='{html.escape(s.text)}'>S{i + 1}</th>" in page


def test_one_colour_scale_per_sentence_over_all_chunks(verification):
    result = verification.result
    pieces = [chunk_tokens(result, i) for i in range(len(result.chunks))]
    peaks = sentence_peaks(result, pieces)
    for i in range(len(result.sentences)):
        per_chunk = [max(abs(p.relevance[i]) for p in chunk) for chunk in pieces]
        assert peaks[i] == max(per_chunk) and min(per_chunk) < peaks[i]  # a weaker chunk is not at full colour
    page = render_html(result)
    data = json.loads(re.search(r"class='data'>(.*?)</script>", page).group(1))
    assert [s["peak"] for s in data["sentences"]] == peaks


def test_pieces_know_their_place_in_the_chunk_text(verification):
    from rag_attrib import AttributionResult

    result = verification.result
    slim = AttributionResult.from_dict(result.to_dict(token_relevance=False))
    for i, chunk in enumerate(result.chunks):
        pieces = chunk_tokens(result, i)
        assert all(chunk.text[p.start : p.start + len(p.text)] == p.text for p in pieces)
        # without token relevance the text is cut where evidence starts and ends, so it can still be marked
        pieces = chunk_tokens(slim, i)
        assert "".join(p.text for p in pieces) == chunk.text
        starts = {p.start for p in pieces}
        assert all(e.span.start in starts for s in result.sentences for c in s.citations if c.chunk_id == chunk.id
                   for e in c.evidence)


def test_terminal_heat_map_covers_the_top_chunk_and_underlines_its_evidence(verification):
    result = verification.result
    for i, sentence in enumerate(result.sentences):
        text = heat_map(result, i)
        top = sentence.citations[0]
        assert text.plain == result.chunk(top.chunk_id).text
        underlined = "".join(text.plain[s.start : s.end] for s in text.spans if "underline" in str(s.style))
        assert top.evidence and underlined == "".join(e.span.of(text.plain) for e in
                                                      sorted(top.evidence, key=lambda e: e.span.start))
    console = Console(record=True, width=120)
    print_result(result, console=console)
    out = console.export_text()
    assert "Where each sentence came from" in out and "<script>window.pwned" in out  # literal, as text


def test_results_render_themselves_in_jupyter(verification):
    one, two = verification.result._repr_html_(), verification._repr_html_()
    for fragment in (one, two):
        assert "<html" not in fragment and "<!DOCTYPE" not in fragment and "<body" not in fragment
        assert "<script>window.pwned" not in fragment
        root = re.match(r"<div class='ra' id='(ra-[0-9a-f]+)'>", fragment).group(1)
        ids = re.findall(r"\bid='([^']+)'", fragment)
        assert ids[0] == root and all(i.startswith(root) for i in ids)
        assert f"getElementById('{root}')" in fragment
    assert re.search(r"id='(ra-\w+)'", one).group(1) != re.search(r"id='(ra-\w+)'", two).group(1)
    assert "supported" not in one and "citation precision" in two
    # every CSS rule is scoped to the fragment's root class
    rules = [r.strip() for r in re.sub(r"\{[^}]*\}", "\n", STYLE).split("\n") if r.strip()]
    assert rules and all(s.strip().startswith(".ra") for r in rules for s in r.split(","))


def test_results_render_themselves_in_rich(verification):
    console = Console(record=True, width=120)
    console.print(verification.result)
    out = console.export_text()
    assert "Where each sentence came from" in out and "Harald Voss built the lighthouse." in out
    console = Console(record=True, width=120)
    console.print(verification)
    out = console.export_text()
    assert "Citation check" in out and "Harald Voss built the lighthouse [1]." in out
    assert all(s.verdict in out for s in verification.sentences)


def thousand_records(verification):
    """1,000 records: 500 verified answers and 500 plain attributions (a mixed page has both legends)."""
    result = verification.result
    return [(f"record {i}", result, verification) if i % 2 else (f"record {i}", result, None)
            for i in range(1000)]


def test_a_thousand_records_make_a_compact_page(verification):
    one = render_report([("one", verification.result, verification)])
    page = render_report(thousand_records(verification))
    assert page.count("<details class='record'") == 1000
    assert " open>" not in page  # all closed: the page opens as a list, each heat map drawn when opened
    assert len(page) < 1000 * len(one)  # nothing is repeated per record but the record itself


# ---------------------------------------------------------------- in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def missing(reason: str) -> None:
    """Skip a test whose tool is missing here; under CI (CI=true), which must run every test, fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        missing("Chromium is not installed (Debian: apt-get install chromium; `make setup` does it as root)")
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def alphas(page, chunk_selector):
    """The largest colour alpha of each chunk's tokens on the page."""
    return page.eval_on_selector_all(chunk_selector, """chunks => chunks.map(c => Math.max(0, ...[...c.querySelectorAll('.tok')]
        .map(t => { const m = t.style.background.match(/rgba?\\(([^)]*)\\)/); const v = m ? m[1].split(',') : [];
                    return v.length === 4 ? Number(v[3]) : (v.length === 3 ? 1 : 0); })))""")


def toggle(record) -> None:
    """Open or close a record and return once its toggle handlers have run (the event fires asynchronously,
    so reading the page right after a click could see the state before them)."""
    record.evaluate("r => new Promise(done => { r.addEventListener('toggle', () => setTimeout(done), {once: true}); "
                    "r.open = !r.open; })")


def test_report_in_headless_chromium(verification, browser, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_html(verification.result, verification), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    assert page.locator(".summary").is_visible() and "citation precision" in page.locator(".summary").inner_text()
    sentences = page.locator(".sent")
    assert sentences.count() == len(verification.sentences) == 3
    assert sentences.nth(2).inner_text() == "Bold <b>claim</b> here."
    assert "Sentence 1:" in page.locator(".selected-label").inner_text()

    sentences.nth(1).click()
    assert page.locator(".sent.selected").get_attribute("data-i") == "1"
    assert page.locator("th.selected").get_attribute("data-i") == "1"
    assert "Sentence 2: The ferry leaves from Ardel." in page.locator(".selected-label").inner_text()
    shaded = page.eval_on_selector_all(".chunk .tok", "els => els.filter(e => e.style.background).length")
    assert shaded > 10
    # one scale for the sentence: only the chunk holding its most relevant token reaches full colour
    peaks = alphas(page, ".chunk")
    assert max(peaks) == pytest.approx(0.8) and sorted(peaks)[-2] < 0.8
    # the evidence of each chunk for this sentence is marked, best passage first
    sentence = verification.result.sentences[1]
    for citation in sentence.citations:
        best = page.locator(f".chunk[data-chunk='{citation.chunk_id}'] .ev.best")
        assert best.is_visible() and best.inner_text() == citation.evidence[0].span.of(
            verification.result.chunk(citation.chunk_id).text)
    evil = page.locator(".chunk[data-chunk='evil']").inner_text()
    assert "<script>window.pwned = 1;" in evil  # shown as text
    assert page.evaluate("window.pwned === undefined") and not dialogs
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_thousand_records_open_as_a_list_in_chromium(verification, browser, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_report(thousand_records(verification)), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(path.as_uri())
    records = page.locator("details.record")
    assert records.count() == 1000 and page.locator(".chunk").count() == 0  # no heat map drawn yet
    toggle(records.nth(501))
    assert page.locator(".chunk").count() == len(CHUNKS)  # drawn for the opened record only
    assert records.nth(501).locator(".chunk").count() == len(CHUNKS)
    page.locator("button[data-filter='supported']").click()  # only the verified records can have a verdict
    visible = page.eval_on_selector_all("details.record", "rs => rs.filter(r => !r.hidden).length")
    assert visible == (500 if verification.counts()["supported"] else 0)
    page.locator("button[data-filter='']").click()
    assert page.eval_on_selector_all("details.record", "rs => rs.filter(r => !r.hidden).length") == 1000
    page.close()


def test_the_support_a_support_model_gave_is_shown_and_absent_without_one(verification):
    import dataclasses

    result = verification.result
    supported = dataclasses.replace(result, sentences=tuple(
        dataclasses.replace(s, support=p) for s, p in zip(result.sentences, (0.9, 0.2, 0.55))))
    console = Console(record=True, width=160)
    print_result(supported, console=console)
    out = console.export_text()
    assert "Support" in out and "90%" in out and "20%" in out
    assert ">support</td><td>90%</td><td>20%</td><td>55%</td>" in render_html(supported)
    console = Console(record=True, width=160)
    print_result(result, console=console)
    assert "Support" not in console.export_text() and ">support</td>" not in render_html(result)


def test_a_sentence_no_chunk_carries_is_marked_so_whatever_its_grounding(verification):
    """Both views mark a sentence that cites nothing (the support model's or the share rule's decision), even when
    much of its relevance lands in the chunks: grounding alone made such a sentence look partly sourced."""
    import dataclasses

    from rich.console import Console

    result = verification.result
    first = result.sentences[0]
    rejected = dataclasses.replace(first, cited=(), grounding=0.4, support=0.15)
    result = dataclasses.replace(result, sentences=(rejected, *result.sentences[1:]))
    page = render_html(result)
    assert f"<span class='sent' data-i='0' data-tag='c0' style='background:{CARRIED_COLOURS[0]}'>" in page
    assert f"{CARRIED[0]} · grounding 40% · support 15%" in page  # the sentence's tooltip
    console = Console(record=True, width=120)
    print_result(result, console=console)
    out = console.export_text()
    assert CARRIED[0] in out and out.index(CARRIED[0]) > out.index("Where each sentence came from")


def test_a_filter_opens_each_record_on_the_first_sentence_it_asks_for(verification, browser, tmp_path):
    import dataclasses

    first, second, third = verification.sentences
    mixed = dataclasses.replace(verification, sentences=(
        dataclasses.replace(first, verdict="ungrounded"), dataclasses.replace(second, verdict="supported"),
        dataclasses.replace(third, verdict="ungrounded")))
    path = tmp_path / "report.html"
    path.write_text(render_report([("mixed", verification.result, mixed), ("other", verification.result, mixed)]),
                    encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(path.as_uri())
    records = page.locator("details.record")
    for record in (records.nth(0), records.nth(1)):
        toggle(record)  # opened before any filter: on its first sentence
        assert record.locator(".sent.selected").get_attribute("data-i") == "0"
    toggle(records.nth(1))  # closed again
    page.locator("button[data-filter='supported']").click()  # the open record moves to the sentence asked for
    assert records.nth(0).locator(".sent.selected").get_attribute("data-i") == "1"
    toggle(records.nth(1))  # and the closed one reopens on it
    assert records.nth(1).locator(".sent.selected").get_attribute("data-i") == "1"
    assert "Sentence 2:" in records.nth(1).locator(".selected-label").inner_text()
    page.close()
