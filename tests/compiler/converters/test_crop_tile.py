"""Crop and Tile against numpy statements of Caffe's semantics, and against OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(19)
X = RNG.standard_normal((2, 4, 7, 9)).astype(np.float32)
LIKE = np.zeros((2, 3, 4, 5), np.float32)


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ({}, X[:, :, :4, :5]),
        ({"offset": [2]}, X[:, :, 2:6, 2:7]),
        ({"offset": [1, 3]}, X[:, :, 1:5, 3:8]),
        ({"axis": 1, "offset": [1, 0, 4]}, X[:, 1:4, :4, 4:9]),
        ({"axis": -1, "offset": [4]}, X[:, :, :, 4:9]),
        ({"axis": 0, "offset": [0, 1, 2, 3]}, X[:, 1:4, 2:6, 3:8]),
    ],
    ids=["default_axis_2", "one_offset", "offset_per_axis", "axis_1", "negative_axis", "axis_0"],
)
def test_crop(param, expected, tmp_path):
    crop = layer("out", "Crop", ["data", "like"], ["out"], crop_param=param)
    inputs = {"data": X, "like": LIKE}
    np.testing.assert_array_equal(run([crop], inputs, ["out"])["out"], expected)
    if param.get("axis", 2) >= 1:  # OpenCV cannot crop from axis 0
        opencv = run_opencv([crop], inputs, ["out"], tmp_path)["out"]
        np.testing.assert_array_equal(opencv, expected)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"offset": [4]}, "crop of axis 2 is out of bounds: size 4 at offset 4 does not fit in 7"),
        ({"offset": [0, 5]}, "crop of axis 3 is out of bounds: size 5 at offset 5 does not fit"),
        ({"offset": [1, 2, 3]}, r"one value, or one per axis from 2 on \(2\); got 3"),
        ({"axis": 4}, "crop_param.axis 4 is out of range"),
    ],
)
def test_crop_refusals(param, message):
    crop = layer("out", "Crop", ["data", "like"], ["out"], crop_param=param)
    with pytest.raises(LayerError, match=message):
        run([crop], {"data": X, "like": np.zeros((2, 3, 4, 5), np.float32)}, ["out"])


def test_crop_refuses_to_crop_the_batch_axis():
    crop = layer("out", "Crop", ["data", "like"], ["out"], crop_param={"axis": 0, "offset": [1]})
    inputs = {"data": X, "like": np.zeros((1, 3, 4, 5), np.float32)}
    with pytest.raises(LayerError, match="crops along axis 0, the batch axis"):
        run([crop], inputs, ["out"])


def test_crop_takes_two_bottoms():
    with pytest.raises(LayerError, match="exactly 2 bottom blob"):
        run([layer("out", "Crop", ["data"], ["out"])], {"data": X}, ["out"])


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ({"tiles": 3}, np.tile(X, (1, 3, 1, 1))),
        ({"axis": 2, "tiles": 2}, np.tile(X, (1, 1, 2, 1))),
        ({"axis": -1, "tiles": 4}, np.tile(X, (1, 1, 1, 4))),
        ({"axis": 0, "tiles": 1}, X),
    ],
    ids=["default_axis_1", "axis_2", "negative_axis", "one_tile_on_axis_0"],
)
def test_tile(param, expected, tmp_path):
    tile = layer("out", "Tile", ["data"], ["out"], tile_param=param)
    np.testing.assert_array_equal(run([tile], {"data": X}, ["out"])["out"], expected)


def test_tile_repeats_whole_blocks_like_caffe():
    # Caffe copies the block of everything from `axis` on, tiles times, for each outer index
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    tile = layer("out", "Tile", ["data"], ["out"], tile_param={"tiles": 2})
    out = run([tile], {"data": x}, ["out"])
    expected = np.stack([np.concatenate([record.ravel()] * 2).reshape(4, 3) for record in x])
    np.testing.assert_array_equal(out["out"], expected)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({}, "tile_param.tiles must be set"),
        ({"tiles": 0}, "tile_param.tiles must be positive, got 0"),
        ({"tiles": -2}, "tile_param.tiles must be positive, got -2"),
        ({"axis": 0, "tiles": 2}, "tiles along axis 0, the batch axis"),
        ({"axis": 4, "tiles": 2}, "tile_param.axis 4 is out of range"),
    ],
)
def test_tile_refusals(param, message):
    with pytest.raises(LayerError, match=message):
        run([layer("out", "Tile", ["data"], ["out"], tile_param=param)], {"data": X}, ["out"])
