"""A run over a folder of PNG digits in real Chromium: the gallery of the server's thumbnails
with each one's top classes, the records-per-second chart, and the form's transform field."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.dashboard.conftest import ROOT
from tests.dashboard.test_browser import LAPTOP, Shots

IMAGES = ROOT / "examples" / "digits" / "images"
TRUTH = ROOT / "examples" / "digits" / "labels.json"
COUNT = 60
GOOD_TRANSFORM = '{"data": {"scale": 0.00390625, "grayscale": true}}'

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "in").mkdir(parents=True)
    for path in sorted(IMAGES.iterdir())[:COUNT]:
        shutil.copy(path, folder / "in" / path.name)
    return folder


@pytest.fixture
def server(tmp_path: Path, data: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "home", env={"CAFFEBATCH_LOCAL_ROOTS": str(data)}).start()
    try:
        yield live
    finally:
        live.stop()


def _local(page, side: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    fieldset = page.locator("fieldset", has=page.locator(f"legend:text-is('{side.title()}')"))
    fieldset.get_by_label("Local folder").check()
    fieldset.get_by_label("Folder path").fill(str(path))


def test_a_run_over_images_shows_its_inputs_and_its_rate(
    browser, server: LiveServer, lenet_package: Path, artifacts: Path, data: Path
) -> None:  # type: ignore[no-untyped-def]
    root = server.url + "/dashboard"
    page = browser.new_context(viewport=LAPTOP).new_page()
    page.goto(root + "/sign-in")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(root + "/")
    page.goto(root + "/models/new")
    page.get_by_label("Name").fill("lenet")
    page.get_by_label("Model package").set_input_files(str(lenet_package))
    page.get_by_role("button", name="Upload and compile").click()
    page.wait_for_url(re.compile(r".*/models/[0-9a-f-]{36}$"))

    # a transform the model cannot take is said next to its field, the others kept
    page.goto(root + "/deployments/new")
    page.get_by_label("Model", exact=True).select_option(label="lenet")
    page.get_by_label("Deployment name").fill("digits as images")
    _local(page, "input", data / "in")
    _local(page, "output", data / "out")
    page.get_by_label("Image transform").fill('{"data": {"size": [32, 32]}}')
    page.get_by_role("button", name="Create and start").click()
    error = page.locator("#transform-error")
    assert "size [32, 32] differs from the layer's [H, W] [28, 28]" in error.inner_text()
    assert page.get_by_label("Image transform").get_attribute("aria-invalid") == "true"
    page.get_by_label("Image transform").fill(GOOD_TRANSFORM)
    _local(page, "input", data / "in")  # the kind radios are shown again as they were
    _local(page, "output", data / "out")
    page.get_by_role("button", name="Create and start").click()
    page.wait_for_url(re.compile(r".*/deployments/[0-9a-f-]{36}$"))
    page.locator(".badge", has_text="Succeeded").wait_for(timeout=120_000)
    page.reload()  # the gallery and the chart are drawn by the server

    truth = orjson.loads(TRUTH.read_bytes())
    items = page.locator("ul.gallery > li")
    assert items.count() == 12
    page.wait_for_function(
        "[...document.querySelectorAll('ul.gallery img')].every(i => i.complete)")
    for n in range(items.count()):
        item = items.nth(n)
        key = item.get_attribute("data-key")
        assert key is not None and key.endswith(".png")
        image = item.locator("img")
        assert "/thumbnails/" in (image.get_attribute("src") or "")
        width = image.evaluate("i => i.naturalWidth")
        assert 0 < width <= 160, (key, width)
        classes = item.locator("ol.classes > li")
        assert classes.count() == 3
        top = classes.nth(0).locator(".class-name").inner_text()
        assert top == str(truth[key.removesuffix(".png") + ".json"]), key
        written = orjson.loads((data / "out" / key).read_bytes())[key]["prob"]
        probability = float(classes.nth(0).inner_text().split()[-1])
        assert probability == pytest.approx(max(written), abs=5e-4)

    chart = page.locator("svg.rate-chart")
    assert chart.count() == 1
    assert chart.locator("circle").count() >= 1
    assert chart.locator("polyline").get_attribute("points")
    assert "Transform" in page.locator("dl.facts").inner_text()
    Shots(artifacts)(page, "deployment-gallery")
