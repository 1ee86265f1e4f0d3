"""Thumbnails: bounded in size, only of inputs the deployment scored, only of images; and
the gallery's plain parts (top classes, SSD boxes, the rate series and its chart)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from caffebatch.dashboard.chart import rate_chart
from caffebatch.errors import InvalidRequestError
from caffebatch.server import create_server
from caffebatch.service.context import open_context
from caffebatch.service.gallery import ModelView, boxes_of, shown_of, top_classes
from caffebatch.service.instances import bootstrap
from caffebatch.service.throughput import Throughput, rates
from caffebatch.service.thumbnails import BOX_COLOUR, make_thumbnail
from caffebatch.settings import Settings
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import form_token, publish, sign_in
from tests.dashboard.conftest import ROOT

IMAGES = ROOT / "examples" / "digits" / "images"
DIGIT_RECORD = ROOT / "examples" / "digits" / "inputs" / "digit_000.json"


def _png(height: int, width: int) -> bytes:
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return bytes(cv2.imencode(".png", image)[1])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "in").mkdir(parents=True)
    shutil.copy(IMAGES / "digit_000.png", folder / "in" / "digit_000.png")
    (folder / "in" / "wide.png").write_bytes(_png(300, 400))
    shutil.copy(DIGIT_RECORD, folder / "in" / "record.json")  # scored, but no image
    (folder / "elsewhere.png").write_bytes(_png(10, 10))
    return folder


@pytest.fixture
def client(tmp_path: Path, data: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home", admin_user=ADMIN_USER,
                        admin_password=ADMIN_PASSWORD, secret_key="thumbnail-test-secret",
                        local_roots=[str(data)], poll_interval_s=0.05, progress_interval_s=0.1)
    ctx = open_context(settings)
    assert bootstrap(ctx) is not None
    with TestClient(create_server(settings, context=ctx), base_url="http://127.0.0.1") as app:
        yield app
    ctx.db.dispose()


def _deployment(client: TestClient, lenet_package: Path, data: Path) -> str:
    sign_in(client, ADMIN_USER, ADMIN_PASSWORD)
    model_id = publish(client, lenet_package, "lenet")
    token = form_token(client.get("/dashboard/deployments/new").text)
    created = client.post("/dashboard/deployments", data={
        "csrf_token": token, "model": model_id, "name": "thumbs", "max_error_ratio": "0.5",
        "input_kind": "local", "input_path": str(data / "in"),
        "output_kind": "local", "output_path": str(data / "out")}, follow_redirects=False)
    assert created.status_code == 303, created.text
    deployment_id = created.headers["location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progress = client.get(f"/dashboard/deployments/{deployment_id}/progress.json").json()
        if not progress[deployment_id]["active"]:
            assert progress[deployment_id]["status"] == "SUCCESS", progress
            return deployment_id
        time.sleep(0.05)
    raise AssertionError("the run did not end")


def test_thumbnails_are_bounded_and_only_of_the_deployments_scored_images(
    client: TestClient, lenet_package: Path, data: Path
) -> None:
    deployment_id = _deployment(client, lenet_package, data)
    url = f"/dashboard/deployments/{deployment_id}/thumbnails"

    wide = client.get(f"{url}/wide.png")
    assert wide.status_code == 200 and wide.headers["content-type"] == "image/png"
    assert cv2.imdecode(np.frombuffer(wide.content, np.uint8), cv2.IMREAD_UNCHANGED).shape == \
        (120, 160, 3)
    digit = client.get(f"{url}/digit_000.png")
    assert digit.status_code == 200  # smaller than the bound: kept at its size
    assert cv2.imdecode(np.frombuffer(digit.content, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] \
        == (28, 28)

    record = client.get(f"{url}/record.json")
    assert record.status_code == 400 and "is no image" in record.text
    (data / "in" / "late.png").write_bytes(_png(10, 10))  # in the folder, never scored
    for outside in ("elsewhere.png", "late.png", "..%2Felsewhere.png", "%2E%2E"):
        response = client.get(f"{url}/{outside}")
        assert response.status_code == 404, (outside, response.status_code)

    page = client.get(f"/dashboard/deployments/{deployment_id}")
    assert page.text.count('<li data-key="') == 2  # the two images, not the JSON record
    assert "<svg" in page.text


def test_a_detection_thumbnail_has_its_boxes_drawn() -> None:
    view = ModelView(labels=("background", "square"), detections=frozenset({"detection_out"}),
                     takes_images=True)
    rows = [[0, 1, 0.9, 0.25, 0.25, 0.75, 0.75], [0, 1, 0.3, 0.0, 0.0, 0.5, 0.5]]
    shown = shown_of("a.png", {"detection_out": [[rows]]}, view)
    assert [(b.name, b.score) for b in shown.boxes] == [("square", 0.9)]
    black = bytes(cv2.imencode(".png", np.zeros((320, 320, 3), np.uint8))[1])
    thumbnail = cv2.imdecode(np.frombuffer(make_thumbnail(black, 160, 10**6, shown.boxes),
                                           np.uint8), cv2.IMREAD_COLOR)
    assert thumbnail.shape == (160, 160, 3)
    assert tuple(thumbnail[80, 40]) == BOX_COLOUR  # the left edge, at 0.25 of 160
    assert tuple(thumbnail[20, 20]) == (0, 0, 0)  # the 0.3 box is not drawn


def test_make_thumbnail_refuses_what_is_no_image_or_too_large() -> None:
    with pytest.raises(InvalidRequestError, match="no image"):
        make_thumbnail(b'{"data": []}', 160, 10**6)
    with pytest.raises(InvalidRequestError, match="GIF"):
        make_thumbnail(b"GIF89a" + bytes(20), 160, 10**6)
    with pytest.raises(InvalidRequestError, match="300x400 pixels; the limit is 1,000"):
        make_thumbnail(_png(300, 400), 160, 1000)


def test_top_classes_name_classes_from_the_labels_else_by_index() -> None:
    probabilities = [0.1, 0.6, 0.05, 0.25]
    named = ModelView(("cat", "dog", "fish", "bird"), frozenset(), True)
    assert [(c.name, c.probability) for c in top_classes(probabilities, named)] == \
        [("dog", 0.6), ("bird", 0.25), ("cat", 0.1)]
    unnamed = ModelView(None, frozenset(), True)
    assert [c.name for c in top_classes([[probabilities]], unnamed)] == ["1", "3", "0"]
    assert [b.name for b in boxes_of([0, 7, 0.8, 0, 0, 1, 1], named)] == ["7"]


def test_the_rate_series_stays_bounded_and_spans_the_run() -> None:
    series = Throughput(size=10)
    for second in range(1, 101):
        series.add(float(second), second * 5)
    stored = series.to_json()
    assert len(stored) <= 10 and stored[0] == [0.0, 0] and stored[-1] == [100.0, 500]
    assert all(rate == pytest.approx(5.0) for _, rate in rates({"throughput": stored}))
    chart = rate_chart(rates({"throughput": stored}))
    assert chart is not None and len(chart.points) == len(stored) - 1
    assert rate_chart([]) is None
