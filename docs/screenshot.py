"""Refresh docs/report.png: the HTML report of `rag-attrib verify` on docs/report_input.jsonl, first answer open.

    rag-attrib verify docs/report_input.jsonl --out /tmp/report.jsonl --html /tmp/report.html
    python docs/screenshot.py /tmp/report.html docs/report.png

Needs Chromium (Debian: apt-get install chromium) and playwright.
"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

page_path, png = Path(sys.argv[1]).resolve(), sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1000, "height": 800}, device_scale_factor=1)
    page.goto(page_path.as_uri())
    page.locator("details.record").first.locator("summary").click()
    page.screenshot(path=png, full_page=True)
    browser.close()
