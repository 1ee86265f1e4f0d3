"""A deployment's own image transform: it replaces the model's, and a bad one is a 400."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from tests.api.conftest import LENET, Api
from tests.api.test_deployments import local_body, wait

DIGITS = LENET.parent / "digits" / "images"


def _images(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    names = sorted(p.name for p in DIGITS.iterdir())[:count]
    for name in names:
        shutil.copy(DIGITS / name, folder / name)
    return names


def _run(api: Api, model_id: str, source: Path, target: Path, **extra) -> dict:  # type: ignore[no-untyped-def]
    created = api.request("POST", f"{api.base}/published_models/{model_id}/deployments",
                          json=local_body(source, target, **extra))
    assert created.status_code == 202, created.text
    url = created.json()["metadata"]["url"].removeprefix("http://testserver")
    return wait(api, url, lambda e: e["status"] in ("SUCCESS", "FAILURE"))


def test_the_deployments_transform_replaces_the_models(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    names = _images(data / "in", 4)
    declared = _run(api, model_id, data / "in", data / "declared")
    same = _run(api, model_id, data / "in", data / "same",
                transform={"data": {"scale": 0.00390625, "grayscale": True}})
    unscaled = _run(api, model_id, data / "in", data / "unscaled", transform={"data": {"scale": 1}})
    for entity in (declared, same, unscaled):
        assert entity["status"] == "SUCCESS", entity
        assert entity["status_details"]["scored"] == len(names)
    assert declared["transform"] is None
    assert unscaled["transform"] == {"data": {"scale": 1.0, "resize": "stretch",
                                              "channel_order": "BGR"}}
    for name in names:
        base = orjson.loads((data / "declared" / name).read_bytes())[name]["prob"]
        assert orjson.loads((data / "same" / name).read_bytes())[name]["prob"] == base
        # 255 times the input LeNet was trained on saturates its softmax: other outputs
        assert orjson.loads((data / "unscaled" / name).read_bytes())[name]["prob"] != base


@pytest.mark.parametrize(("transform", "expected"), [
    ({"data": {"scale": 0}}, "body.transform.data.scale"),
    ({"data": {"resize": "squash"}}, "body.transform.data.resize"),
    ({"data": "scale"}, "body.transform.data"),
    ({"data": {"size": [32, 32]}}, "size [32, 32] differs from the layer's [H, W] [28, 28]"),
    ({"conv1": {}}, "['conv1'], which are not input layers"),
    ({"data": {"mean": "missing.binaryproto"}}, "missing.binaryproto"),
    ({"data": {"mean": [1, 2, 3]}}, "mean has 3 values; the layer has 1 channel"),
])
def test_a_transform_that_does_not_fit_is_a_400_naming_the_field(
    api: Api, tmp_path: Path, lenet_archive: bytes, transform: dict, expected: str
) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    response = api.request("POST", f"{api.base}/published_models/{model_id}/deployments",
                           json=local_body(data / "in", data / "out", transform=transform))
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert expected in error["message"], error
    assert "transform" in error["message"]
