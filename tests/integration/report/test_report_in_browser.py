"""The run report opened in a real headless Chromium (Debian's package, driven by
Playwright): what a person sees when the file is mailed to them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from report_lake import lake_after_a_run

from recaug import io
from recaug.report.build import build_report

CHROMIUM_ENV = "RECAUG_CHROMIUM"


def chromium_binary() -> str:
    """$RECAUG_CHROMIUM or `chromium` on PATH; CI must have it (.ci/run installs it)."""
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if found:
        return found
    message = f"no Chromium: set ${CHROMIUM_ENV} or `apt-get install -y chromium` (Debian package)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_report_renders_in_chromium_with_a_visible_decision_and_loaded_images(settings, tmp_path):
    binary = chromium_binary()
    from playwright.sync_api import sync_playwright

    lake_after_a_run(settings, "run-b")
    io.write_text(settings.lake.url("quarantine", "2026-01-02", "data_docs", "index.html"), "<html>GX</html>")
    report = build_report(settings, "run-b").html
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(Path(report).as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.alt, i.complete, i.naturalWidth])")
            card = page.locator("#summary")
            card_visible, card_text = card.is_visible(), card.inner_text()
            text = page.inner_text("body")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
            page.click("text=All 2 batches of this lake")  # a collapsed table opens on click
            opened = page.locator("details", has_text="All 2 batches of this lake").get_attribute("open")
        finally:
            browser.close()
    assert errors == []
    assert len(images) == 3 and all(complete and width > 0 for _, complete, width in images), images
    assert card_visible and "Deployed: recaug_seq version 3 is live" in card_text
    assert "**" not in text
    assert settings.lake.root not in text and str(Path(settings.lake.root).resolve()) not in text
    assert opened is not None
    assert (tmp_path / "report.png").stat().st_size > 10_000
    shot = os.environ.get("SAVE_REPORT_SCREENSHOT")
    if shot:  # for a person to look at
        shutil.copy(tmp_path / "report.png", shot)
