"""Interp, Upsample and Pooling's mask top and ceil_mode against numpy statements of the forks'
C++ (hszhao/PSPNet interp.cpp, caffe-segnet upsample_layer.cpp, caffe-yolov3 upsample_layer.cpp,
DenseNet-Caffe pooling_layer.cpp), and against OpenCV 4.x where it is right."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters.test_pooling import pool_ref
from tests.compiler.netbuilder import layer, run, run_opencv
from tests.realworld.opencv_reference import numpy_interp, numpy_nearest, numpy_unpool

RNG = np.random.default_rng(31)


def interp_layer(bottoms=("data",), **param):
    return layer("interp", "Interp", list(bottoms), ["interp"], interp_param=param)


# (id, H x W, interp_param, output H x W): InterpLayer::Reshape's sizes
INTERP = [
    ("zoom", (5, 7), {"zoom_factor": 3}, (13, 19)),
    ("shrink", (9, 10), {"shrink_factor": 4}, (3, 3)),
    ("zoom_and_shrink", (9, 10), {"zoom_factor": 3, "shrink_factor": 2}, (13, 13)),
    ("height_width", (4, 6), {"height": 7, "width": 3}, (7, 3)),
    ("same_size", (4, 6), {"height": 4, "width": 6}, (4, 6)),
    ("to_one_row", (4, 6), {"height": 1, "width": 5}, (1, 5)),
    ("crop_then_zoom", (7, 8), {"zoom_factor": 2, "pad_beg": -1, "pad_end": -2}, (7, 9)),
    ("crop_then_shrink", (9, 9), {"shrink_factor": 2, "pad_beg": -1, "pad_end": 0}, (4, 4)),
]


@pytest.mark.parametrize("case", INTERP, ids=[c[0] for c in INTERP])
def test_interp_matches_pspnets_bilinear(case):
    _, hw, param, out = case
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    y = run([interp_layer(**param)], {"data": x}, ["interp"])["interp"]
    expected = numpy_interp(x, *out, param.get("pad_beg", 0), param.get("pad_end", 0))
    assert y.shape == expected.shape == (2, 3, *out)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_interp_takes_the_size_of_a_second_bottom():
    x = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
    like = np.zeros((1, 1, 6, 9), np.float32)
    y = run([interp_layer(("data", "like"))], {"data": x, "like": like}, ["interp"])["interp"]
    np.testing.assert_allclose(y, numpy_interp(x, 6, 9, 0, 0), rtol=1e-5, atol=1e-6)


# OpenCV 4.x agrees on these; test_opencv_interp_differs_from_the_fork has the rest
OPENCV_INTERP = ["zoom", "height_width", "same_size"]


@pytest.mark.parametrize("case", [c for c in INTERP if c[0] in OPENCV_INTERP], ids=OPENCV_INTERP)
def test_interp_agrees_with_opencv(case, tmp_path):
    _, hw, param, _ = case
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    ours = run([interp_layer(**param)], {"data": x}, ["interp"])["interp"]
    theirs = run_opencv([interp_layer(**param)], {"data": x}, ["interp"], tmp_path)["interp"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_opencv_interp_differs_from_the_fork(tmp_path):
    """OpenCV 4.x ignores shrink_factor when zoom_factor is given (9 -> 25, not 13), ignores
    pad_beg / pad_end, and refuses shrink_factor alone (an empty output)."""
    import cv2

    x = RNG.standard_normal((1, 1, 9, 10)).astype(np.float32)
    both = run_opencv(
        [interp_layer(zoom_factor=3, shrink_factor=2)], {"data": x}, ["interp"], tmp_path
    )
    assert both["interp"].shape == (1, 1, 25, 28)
    cropped = run_opencv(
        [interp_layer(zoom_factor=2, pad_beg=-1, pad_end=-2)], {"data": x}, ["interp"], tmp_path
    )
    assert cropped["interp"].shape == (1, 1, 17, 19)
    with pytest.raises(cv2.error, match="total"):
        run_opencv([interp_layer(shrink_factor=4)], {"data": x}, ["interp"], tmp_path)


@pytest.mark.parametrize(
    "param, message",
    [({"pad_beg": 1, "zoom_factor": 2}, "non-positive"), ({}, "give the output size")],
)
def test_interp_refusals(param, message):
    with pytest.raises(LayerError, match=message):
        run([interp_layer(**param)], {"data": np.zeros((1, 1, 4, 4), np.float32)}, ["interp"])


def pooled_with_mask(hw, upsample_param):
    pool = layer(
        "pool",
        "Pooling",
        ["data"],
        ["pool", "mask"],
        pooling_param={"pool": "MAX", "kernel_size": 2, "stride": 2},
    )
    up = layer("up", "Upsample", ["pool", "mask"], ["up"], upsample_param=upsample_param)
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    return [pool, up], x


@pytest.mark.parametrize(
    "hw, upsample_param, out",
    [
        ((6, 8), {"scale": 2}, (6, 8)),
        ((5, 7), {"scale": 2, "pad_out_h": True, "pad_out_w": True}, (5, 7)),
        ((5, 8), {"scale": 2, "pad_out_h": True}, (5, 8)),
        ((5, 7), {"upsample_h": 5, "upsample_w": 7}, (5, 7)),
    ],
    ids=["even", "odd_pad_out_both", "odd_pad_out_h", "upsample_hw"],
)
def test_unpooling_puts_each_max_back_where_the_mask_says(hw, upsample_param, out):
    layers, x = pooled_with_mask(hw, upsample_param)
    got = run(layers, {"data": x}, ["pool", "mask", "up"])
    expected = numpy_unpool(got["pool"], got["mask"], *out)
    np.testing.assert_array_equal(got["up"], expected)
    # Every max is back in its place; everything else is zero
    kept = got["up"] != 0
    np.testing.assert_array_equal(got["up"][kept], x[kept])
    assert kept.sum() == got["pool"].size


def test_pooling_mask_is_the_argmax_within_the_plane(tmp_path):
    layers, x = pooled_with_mask((5, 7), {"scale": 2})
    ours = run(layers[:1], {"data": x}, ["pool", "mask"])
    width = x.shape[3]
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, ours["mask"].reshape(2, 3, -1).astype(int), 2).reshape(
            ours["pool"].shape
        ),
        ours["pool"],
    )
    assert ours["mask"].max() < x.shape[2] * width
    theirs = run_opencv(layers[:1], {"data": x}, ["pool"], tmp_path)
    np.testing.assert_array_equal(ours["pool"], theirs["pool"])


def test_unpooling_refuses_pad_out_without_a_scale_of_two():
    layers, x = pooled_with_mask((6, 6), {"scale": 3, "pad_out_h": True})
    with pytest.raises(LayerError, match="pad_out_h needs a scale of 2"):
        run(layers, {"data": x}, ["up"])


@pytest.mark.parametrize("scale", [None, 2, 3])
def test_nearest_upsampling_repeats_each_value(scale):
    x = RNG.standard_normal((2, 3, 3, 4)).astype(np.float32)
    param = {} if scale is None else {"scale": scale}
    up = layer("up", "Upsample", ["data"], ["up"], upsample_param=param)
    y = run([up], {"data": x}, ["up"])["up"]
    # caffe-yolov3's scale defaults to 1
    np.testing.assert_array_equal(y, numpy_nearest(x, scale or 1))


@pytest.mark.parametrize("ceil", [True, False])
@pytest.mark.parametrize(
    "hw, k, s, p", [((8, 8), 3, 2, 1), ((7, 6), 3, 2, 0), ((6, 6), 2, 2, 1)], ids=str
)
def test_ceil_mode_chooses_caffes_ceil_or_floor(ceil, hw, k, s, p, tmp_path):
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    param = {"pool": "MAX", "kernel_size": k, "stride": s, "pad": p, "ceil_mode": ceil}
    pool = layer("pool", "Pooling", ["data"], ["pool"], pooling_param=param)
    y = run([pool], {"data": x}, ["pool"])["pool"]
    expected = pool_ref(x, "MAX", (k, k), (s, s), (p, p), ceil)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    theirs = run_opencv([pool], {"data": x}, ["pool"], tmp_path)["pool"]
    np.testing.assert_allclose(y, theirs, rtol=1e-6)
