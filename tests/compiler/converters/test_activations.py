"""Activation converters against numpy statements of Caffe's formulas, and against OpenCV."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(7)
# N(0, 3^2) reaches the saturated ranges of every activation; odd sizes on purpose
X = (RNG.standard_normal((3, 5, 7, 2)) * 3).astype(np.float32)


def relu_ref(x, slope=0.0):
    return np.maximum(x, 0) + slope * np.minimum(x, 0)


def bnll_ref(x):
    x = x.astype(np.float64)
    return np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(np.minimum(x, 0))))


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


f32 = np.float32


class Case(NamedTuple):
    """A layer's parameters, a numpy statement of Caffe's forward, and whether OpenCV 4.x
    computes it right (it has no Caffe Clip or Threshold, and ignores Swish's beta)."""

    params: dict
    reference: Callable[[np.ndarray], np.ndarray]
    opencv_agrees: bool


CASES = {
    "relu": Case({"type": "ReLU"}, relu_ref, True),
    "leaky": Case(
        {"type": "ReLU", "relu_param": {"negative_slope": 0.1}},
        lambda x: relu_ref(x, f32(0.1)),
        True,
    ),
    "elu": Case(
        {"type": "ELU", "elu_param": {"alpha": 0.7}},
        lambda x: np.where(x > 0, x, f32(0.7) * np.expm1(x)),
        True,
    ),
    "elu_default": Case({"type": "ELU"}, lambda x: np.where(x > 0, x, np.expm1(x)), True),
    "sigmoid": Case({"type": "Sigmoid"}, sigmoid_ref, True),
    "tanh": Case({"type": "TanH"}, np.tanh, True),
    "absval": Case({"type": "AbsVal"}, np.abs, True),
    "bnll": Case({"type": "BNLL"}, bnll_ref, True),
    "threshold": Case(
        {"type": "Threshold", "threshold_param": {"threshold": 0.3}},
        lambda x: (x > f32(0.3)).astype(f32),
        False,
    ),
    "threshold_default": Case({"type": "Threshold"}, lambda x: (x > 0).astype(f32), False),
    "clip": Case(
        {"type": "Clip", "clip_param": {"min": -1.5, "max": 2.0}},
        lambda x: np.maximum(-1.5, np.minimum(x, 2.0)),
        False,
    ),
    "clip_crossed": Case(
        {"type": "Clip", "clip_param": {"min": 1.0, "max": -1.0}},
        lambda x: np.maximum(1.0, np.minimum(x, -1.0)),
        False,
    ),
    "swish": Case(
        {"type": "Swish", "swish_param": {"beta": 1.5}},
        lambda x: x * sigmoid_ref(f32(1.5) * x),
        False,
    ),
    "swish_default": Case({"type": "Swish"}, lambda x: x * sigmoid_ref(x), True),
}
OPENCV_CASES = {name: case for name, case in CASES.items() if case.opencv_agrees}


def one_layer(params: dict, bottoms=("data",), tops=("out",), blobs=()):
    params = dict(params)
    return layer(tops[0], params.pop("type"), list(bottoms), list(tops), blobs=blobs, **params)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_caffe_formula(case):
    out = run([one_layer(case.params)], {"data": X}, ["out"])["out"]
    assert out.shape == X.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, case.reference(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", OPENCV_CASES.values(), ids=OPENCV_CASES.keys())
def test_agrees_with_opencv(case, tmp_path):
    ours = run([one_layer(case.params)], {"data": X}, ["out"])["out"]
    opencv = run_opencv([one_layer(case.params)], {"data": X}, ["out"], tmp_path)["out"]
    np.testing.assert_allclose(ours, opencv, rtol=1e-4, atol=1e-5)


def test_bnll_does_not_overflow_far_from_zero():
    x = np.array([[-200.0, -30.0, 0.0, 30.0, 200.0]], dtype=np.float32)
    out = run([one_layer({"type": "BNLL"})], {"data": x}, ["out"])["out"]
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, bnll_ref(x), rtol=1e-6, atol=1e-30)


def test_threshold_is_strictly_greater():
    x = np.array([[0.3, 0.30001, 0.29999, -1.0]], dtype=np.float32)
    threshold = one_layer({"type": "Threshold", "threshold_param": {"threshold": 0.3}})
    out = run([threshold], {"data": x}, ["out"])
    np.testing.assert_array_equal(out["out"], [[0.0, 1.0, 0.0, 0.0]])


@pytest.mark.parametrize("shape", [(2, 4), (2, 4, 3), (2, 4, 3, 5), (1, 4, 2, 3, 2)])
def test_prelu_slopes_broadcast_over_channel_axis(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    slopes = np.array([-0.5, 0.1, 0.25, 2.0], dtype=np.float32)
    out = run([one_layer({"type": "PReLU"}, blobs=[slopes])], {"data": x}, ["out"])["out"]
    per_channel = slopes.reshape((4,) + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(out, np.maximum(x, 0) + per_channel * np.minimum(x, 0), rtol=1e-6)


@pytest.mark.parametrize(("blob_shape", "legacy"), [((), False), ((1, 1, 1, 1), True)])
def test_prelu_channel_shared(blob_shape, legacy):
    slope = np.full(blob_shape, 0.2, dtype=np.float32)
    prelu = one_layer({"type": "PReLU", "prelu_param": {"channel_shared": True}}, blobs=[slope])
    if legacy:  # a V1 weights file pads every blob to 4-D
        prelu = dataclasses.replace(prelu, legacy_blobs=frozenset({0}))
    out = run([prelu], {"data": X}, ["out"])["out"]
    expected = np.maximum(X, 0) + np.float32(0.2) * np.minimum(X, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_prelu_per_channel_agrees_with_opencv(tmp_path):
    slopes = np.linspace(-0.5, 0.5, 5).astype(np.float32)
    prelu = one_layer({"type": "PReLU"}, blobs=[slopes])
    ours = run([prelu], {"data": X}, ["out"])["out"]
    opencv = run_opencv([prelu], {"data": X}, ["out"], tmp_path)["out"]
    np.testing.assert_allclose(ours, opencv, rtol=1e-5, atol=1e-6)


def test_in_place_chain():
    # data -> ReLU in place -> Swish in place: the IR names in-place values <blob>@<layer>
    relu = layer("relu", "ReLU", ["data"], ["data@relu"], relu_param={"negative_slope": 0.5})
    swish = layer("swish", "Swish", ["data@relu"], ["data@swish"])
    out = run([relu, swish], {"data": X}, ["data@swish"])["data@swish"]
    y = relu_ref(X, np.float32(0.5))
    np.testing.assert_allclose(out, y * sigmoid_ref(y), rtol=1e-5, atol=1e-6)


SHARED = {"type": "PReLU", "prelu_param": {"channel_shared": True}}


@pytest.mark.parametrize(
    ("params", "blobs", "expected"),
    [
        ({"type": "PReLU"}, [np.ones(4, np.float32)], r"blob 0 has shape \(4,\), expected \(5,\)"),
        (SHARED, [np.ones(1, np.float32)], r"blob 0 has shape \(1,\), expected \(\)"),
        ({"type": "PReLU"}, [], r"expected weight blob 0 of shape \(5,\)"),
        ({"type": "Clip", "clip_param": {"min": 0.0}}, [], "max not set"),
        ({"type": "Clip"}, [], "min and max not set"),
    ],
)
def test_refusals_name_layer_and_reason(params, blobs, expected):
    with pytest.raises(LayerError, match=expected) as caught:
        run([one_layer(params, blobs=blobs)], {"data": X}, ["out"])
    assert caught.value.layer == "out"


def test_neuron_layer_takes_one_bottom():
    two = one_layer({"type": "ReLU"}, bottoms=("data", "other"))
    with pytest.raises(LayerError, match="exactly 1 bottom blob"):
        run([two], {"data": X, "other": X}, ["out"])


@pytest.mark.parametrize(
    "model",
    [
        "zoo_act_relu",
        "zoo_act_sigmoid",
        "zoo_act_tanh",
        "zoo_act_absval",
        "zoo_act_bnll",
        "zoo_act_elu",
        "zoo_act_threshold",
        "zoo_act_clip",
        "zoo_act_swish",
        "zoo_prelu",
    ],
)
def test_matches_real_caffe(model):
    assert_matches_reference(model)
