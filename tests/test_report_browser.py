"""The report and the comparison page, opened offline in a real headless Chromium: every image loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        # A persistent context on a fresh folder: a clean profile that nothing else shares.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1200, "height": 900}, offline=True)
        yield context
        context.close()


def _open(browser, html: Path):
    page = browser.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html.resolve().as_uri(), wait_until="load")
    return page, requests


def _image_states(page) -> list[dict]:
    return page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,"
               " height: i.naturalHeight}))")


def test_report_renders_with_every_image_loaded(browser, tiny_run, tmp_path, cli):
    run_dir = tmp_path / tiny_run.path.name  # a copy: the report writes TensorBoard images into the run
    shutil.copytree(tiny_run.path, run_dir, ignore=shutil.ignore_patterns("checkpoints", "report"))
    out = tmp_path / "elsewhere"
    code, _, err = cli("report", str(run_dir), "--out", str(out))
    assert code == 0, err
    assert not (run_dir / "report").exists()  # --out moves the page and the PNGs
    page, requests = _open(browser, out / "report.html")
    images = _image_states(page)
    pngs = sorted(p.stem for p in out.glob("*.png"))
    assert sorted(i["alt"] for i in images) == pngs  # one <img> a figure, none missing
    broken = [i["alt"] for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert broken == []
    assert all(url.startswith(("file:", "data:")) for url in requests)  # nothing fetched from elsewhere
    assert page.title() == f"cnnlab report: {tiny_run.path.name}"
    assert "test accuracy" in page.inner_text("table.summary")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_compare_page_renders_its_curves(browser, tiny_run, tmp_path, cli):
    other = tmp_path / "tiny-copy"
    shutil.copytree(tiny_run.path, other, ignore=shutil.ignore_patterns("checkpoints"))
    out = tmp_path / "compare"
    code, _, err = cli("compare", str(tiny_run.path), str(other), "--out", str(out))
    assert code == 0, err
    page, _ = _open(browser, out / "compare.html")
    images = _image_states(page)
    assert len(images) == 1 and images[0]["width"] > 0
    headers = page.eval_on_selector_all("table.compare tr > th:first-child", "cells => cells.map(c => c.innerText)")
    assert headers.count(tiny_run.path.name) == 2 and headers.count("tiny-copy") == 2  # configs and results
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    page.close()
