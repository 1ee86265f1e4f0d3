"""The dashboard in real headless Chromium against a live `caffebatch serve` and S3 server.

One walk through what a user does: sign in, upload LeNet, deploy it over a bucket, watch it
succeed, open the errors of a run with bad inputs, delete it. Every page is saved as a
screenshot in test-artifacts/dashboard/, at laptop and at phone width.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.dashboard.conftest import DIGITS
from tests.s3server import S3Server

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# moto accepts any keys; distinctive ones show that no page ever prints them
ACCESS_KEY, SECRET_KEY = "AKIADASHBOARDTEST", "dashboard-secret-7f3a"
BAD_INPUTS = {
    "bad_not_json.json": b"this is not json",
    "bad_shape.json": b'{"data": [[1.0, 2.0, 3.0]]}',
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class Shots:
    """Saves full-page screenshots under a name and checks nothing overflows sideways."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, page, name: str) -> None:  # type: ignore[no-untyped-def]
        width = page.viewport_size["width"]
        page.screenshot(path=str(self.folder / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"


def _digits(count: int) -> dict[str, bytes]:
    files = sorted(DIGITS.iterdir())[:count]
    return {path.name: path.read_bytes() for path in files}


def _fill_side(page, side: str, s3: S3Server, bucket: str) -> None:  # type: ignore[no-untyped-def]
    fieldset = page.locator("fieldset", has=page.locator(f"legend:text-is('{side.title()}')"))
    fieldset.get_by_label("S3 bucket").check()
    fieldset.get_by_label("S3 endpoint URL").fill(s3.url)
    fieldset.get_by_label("Bucket", exact=True).fill(bucket)
    fieldset.get_by_label("Access key").fill(ACCESS_KEY)
    fieldset.get_by_label("Secret key").fill(SECRET_KEY)


def _deploy(page, root: str, s3: S3Server, name: str, source: str, target: str,
            threshold: str) -> str:  # type: ignore[no-untyped-def]
    page.goto(root + "/deployments/new")
    page.get_by_label("Model", exact=True).select_option(label="lenet")
    page.get_by_label("Deployment name").fill(name)
    _fill_side(page, "input", s3, source)
    _fill_side(page, "output", s3, target)
    page.get_by_label("Batch size").fill("8")
    page.get_by_label("Error threshold").fill(threshold)
    page.get_by_role("button", name="Create and start").click()
    page.wait_for_url(re.compile(r".*/deployments/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def _no_secrets(page) -> None:  # type: ignore[no-untyped-def]
    html = page.content()
    assert ACCESS_KEY not in html and SECRET_KEY not in html


def test_publish_deploy_watch_and_delete(browser, live: LiveServer, s3: S3Server,
                                         lenet_package: Path, artifacts: Path,
                                         tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shot = Shots(artifacts)
    root = live.url + "/dashboard"
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()

    # sign in: a wrong password is said on the form, then the right one lands on the overview
    page.goto(root + "/")
    assert "/dashboard/sign-in" in page.url
    page.keyboard.press("Tab")  # the skip link, then the first field: focus must show
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus is invisible"
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert "wrong username or password" in page.locator("#sign-in-error").inner_text()
    shot(page, "sign-in-error")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(root + "/")
    assert page.get_by_role("meter").count() >= 4  # models, deployments, predictions, time
    shot(page, "overview")

    # upload: a wrong file is refused next to the form, then LeNet compiles and shows its layers
    page.get_by_role("link", name="Models", exact=True).click()
    page.get_by_role("link", name="Upload a model").first.click()
    junk = tmp_path / "notes.txt"
    junk.write_text("not a model package")
    page.get_by_label("Name").fill("lenet")
    page.get_by_label("Model package").set_input_files(str(junk))
    page.get_by_role("button", name="Upload and compile").click()
    assert ".tar.gz or .zip" in page.locator("#package-error").inner_text()
    shot(page, "upload-error")
    page.get_by_label("Model package").set_input_files(str(lenet_package))
    page.get_by_role("button", name="Upload and compile").click()
    page.wait_for_url(re.compile(r".*/models/[0-9a-f-]{36}$"))
    layers = page.locator("table.layers tbody tr")
    assert layers.count() == 8
    assert layers.nth(0).inner_text().split("\t")[:3] == ["conv1", "Convolution", "N × 20 × 24 × 24"]
    assert "N × 10" in layers.nth(7).inner_text()
    shot(page, "model")

    # a clean run over 24 digits in a bucket reaches SUCCESS; the page updates by itself
    good_in, good_out = s3.create_bucket(), s3.create_bucket()
    s3.upload(good_in, _digits(24))
    good_id = _deploy(page, root, s3, "digits", good_in, good_out, "0.1")
    _no_secrets(page)
    page.locator(".badge", has_text="Succeeded").wait_for(timeout=90_000)
    counts = page.locator("dl.counts")
    assert counts.locator("[data-field=scored]").inner_text() == "24"
    assert counts.locator("[data-field=failed]").inner_text() == "0"
    written = s3.download(good_out)
    assert sum(1 for key in written if not key.startswith("_caffebatch/")) == 24
    shot(page, "deployment-success")

    # a run with bad inputs ends PARTIAL_SUCCESS; its error report names the bad keys
    bad_in, bad_out = s3.create_bucket(), s3.create_bucket()
    s3.upload(bad_in, {**_digits(10), **BAD_INPUTS})
    bad_id = _deploy(page, root, s3, "digits-with-bad", bad_in, bad_out, "0.5")
    page.locator(".badge", has_text="Partly succeeded").wait_for(timeout=90_000)
    for key in BAD_INPUTS:
        assert page.get_by_role("cell", name=key).count() == 1
    shot(page, "deployment-partial")
    page.get_by_role("link", name="Open the error report").click()
    report = page.locator("table tbody tr")
    assert report.count() == len(BAD_INPUTS)
    assert {report.nth(i).locator("td").first.inner_text() for i in range(report.count())} \
        == set(BAD_INPUTS)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download errors.jsonl").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == len(BAD_INPUTS)
    shot(page, "errors")

    # the list shows both, finished, with full bars
    page.get_by_role("link", name="Deployments", exact=True).click()
    assert page.locator(".runs > li").count() == 2
    assert page.locator("[role=progressbar][aria-valuenow='100.0']").count() == 2
    _no_secrets(page)
    shot(page, "deployments")

    # delete asks first; cancelling keeps it, confirming removes it
    page.goto(f"{root}/deployments/{bad_id}")
    page.get_by_role("link", name="Delete…").click()
    shot(page, "delete-confirm")
    page.get_by_role("link", name="Cancel").click()
    assert page.url.endswith(bad_id)
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete the deployment").click()
    page.wait_for_url(re.compile(r".*/deployments\?done=deployment-deleted$"))
    assert page.locator(".runs > li").count() == 1
    assert "digits-with-bad" not in page.locator(".runs").inner_text()

    # the same pages at phone width, signed in with the same session
    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    model_url = f"{root}/models"
    for name, url in (("overview", root + "/"), ("models", model_url),
                      ("deployments", root + "/deployments"),
                      ("deployment-new", root + "/deployments/new"),
                      ("deployment", f"{root}/deployments/{good_id}"),
                      ("errors", f"{root}/deployments/{good_id}/errors")):
        small.goto(url)
        shot(small, name)
    small.goto(model_url)
    small.get_by_role("link", name="lenet").click()
    shot(small, "model")
    phone.close()
    signed_out = browser.new_context(viewport=PHONE)
    signed_out_page = signed_out.new_page()
    signed_out_page.goto(root + "/")
    shot(signed_out_page, "sign-in")
    signed_out.close()
    context.close()
