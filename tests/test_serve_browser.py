"""The drawing page in a real browser: a real ``cnnlab serve`` process, Debian's headless Chromium driven by
Playwright; draw a digit with mouse strokes, see the label, upload a photo, save a screenshot.

Set ``CNNLAB_SCREENSHOT=path.png`` to keep the screenshot (docs/img/serve.png is made this way)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from _photos import encode, ink_from_mnist, photograph

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tiny_run):
    """``cnnlab serve RUN --port 0`` in its own process; yields the base URL it reports."""
    command = [sys.executable, "-m", "cnnlab", "serve", str(tiny_run.path), "--port", "0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                pytest.fail(f"cnnlab serve exited with {process.returncode}")
            match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            url = match.group(1) if match else None
        assert url, "cnnlab serve did not report its address"
        _wait_healthy(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(url: str) -> None:
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the server never became healthy")


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1000, "height": 700})
        page = context.new_page()
        page.goto(server)
        yield page
        context.close()


def _draw(page, strokes) -> None:
    """Mouse strokes on the canvas; points are in the canvas's 0..280 coordinates."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()


def _wait_answered(page) -> None:
    """Until a label is shown and no newer image is still on its way (live updates come mid-stroke)."""
    page.wait_for_function("document.querySelector('#prediction').dataset.label !== '' "
                           "&& document.body.dataset.busy === '0'", timeout=30_000)


def test_drawing_a_digit_shows_a_prediction(page):
    page.click("#clear")
    _draw(page, [[(145, 40), (140, 140), (135, 240)]])  # a "1": one long downstroke
    _wait_answered(page)
    label = page.locator("#prediction").get_attribute("data-label")
    assert label == "1"
    assert page.locator("#preview").get_attribute("src").startswith("data:image/png;base64,")
    widths = page.eval_on_selector_all("#bars .fill", "els => els.map(e => parseFloat(e.style.width))")
    assert len(widths) == 10 and abs(sum(widths) - 100) < 1.0 and max(widths) == widths[1]


def test_uploading_a_photo_shows_its_prediction(page, mnist, tiny_run, tmp_path):
    from cnnlab.images.preprocess import preprocess_image

    photo = photograph(ink_from_mnist(mnist.x_test[0], 150), np.random.default_rng(9), size=(400, 300))
    path = tmp_path / "7_photo.jpg"
    path.write_bytes(encode(photo, "JPEG"))
    model_input = preprocess_image(path).model_input[None]
    expected = int(tiny_run.load_model()(model_input).numpy().argmax())
    page.click("#clear")
    page.wait_for_function("document.querySelector('#prediction').dataset.label === ''")
    page.set_input_files("#file", str(path))
    _wait_answered(page)
    assert page.locator("#prediction").get_attribute("data-label") == str(expected)
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("CNNLAB_SCREENSHOT"):
        shutil.copy(shot, os.environ["CNNLAB_SCREENSHOT"])


def test_a_blank_upload_shows_the_error(page, tmp_path):
    from PIL import Image

    path = tmp_path / "blank.png"
    Image.new("L", (100, 100), 250).save(path)
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.querySelector('#message').textContent.includes('no ink')", timeout=30_000)
