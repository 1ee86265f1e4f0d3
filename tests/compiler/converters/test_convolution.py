"""Convolution and Deconvolution against numpy statements of Caffe's formulas, and OpenCV."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(3)


def conv_ref(x, w, b, stride, pad, dilation, group):
    """Caffe's convolution, written out: each output sums input x weight over its window."""
    n, c = x.shape[:2]
    k = w.shape[2:]
    axes = len(k)
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = [
        (padded.shape[2 + i] - (dilation[i] * (k[i] - 1) + 1)) // stride[i] + 1 for i in range(axes)
    ]
    y = np.zeros((n, w.shape[0], *out))
    cin, cout = c // group, w.shape[0] // group
    for gi in range(group):
        xs = padded[:, gi * cin : (gi + 1) * cin]
        ws = w[gi * cout : (gi + 1) * cout].astype(np.float64)
        for offset in itertools.product(*(range(kk) for kk in k)):
            window = tuple(
                slice(
                    offset[i] * dilation[i],
                    offset[i] * dilation[i] + stride[i] * (out[i] - 1) + 1,
                    stride[i],
                )
                for i in range(axes)
            )
            patch = xs[(slice(None), slice(None), *window)]
            y[:, gi * cout : (gi + 1) * cout] += np.einsum(
                "nc...,oc->no...", patch, ws[(slice(None), slice(None), *offset)]
            )
    if b is not None:
        y += b.reshape(1, -1, *([1] * axes))
    return y


def deconv_ref(x, w, b, stride, pad, dilation, group):
    """Caffe's deconvolution: each input value scatters weight x value, then the pad is cropped."""
    n, c = x.shape[:2]
    k = w.shape[2:]
    axes = len(k)
    cout = w.shape[1]
    full = [stride[i] * (x.shape[2 + i] - 1) + dilation[i] * (k[i] - 1) + 1 for i in range(axes)]
    y = np.zeros((n, cout * group, *full))
    cin = c // group
    for gi in range(group):
        xs = x[:, gi * cin : (gi + 1) * cin].astype(np.float64)
        ws = w[gi * cin : (gi + 1) * cin].astype(np.float64)
        for offset in itertools.product(*(range(kk) for kk in k)):
            window = tuple(
                slice(
                    offset[i] * dilation[i],
                    offset[i] * dilation[i] + stride[i] * (x.shape[2 + i] - 1) + 1,
                    stride[i],
                )
                for i in range(axes)
            )
            y[(slice(None), slice(gi * cout, (gi + 1) * cout), *window)] += np.einsum(
                "nc...,co->no...", xs, ws[(slice(None), slice(None), *offset)]
            )
    crop = tuple(slice(p, y.shape[2 + i] - p) for i, p in enumerate(pad))
    y = y[(slice(None), slice(None), *crop)]
    if b is not None:
        y += b.reshape(1, -1, *([1] * axes))
    return y


def weights(shape, bias=None):
    w = RNG.standard_normal(shape).astype(np.float32)
    return [w] if bias is None else [w, RNG.standard_normal(bias).astype(np.float32)]


# (id, input shape, convolution_param, weight shape, stride, pad, dilation, group)
CONV_CASES = [
    (
        "plain",
        (2, 3, 9, 8),
        {"num_output": 4, "kernel_size": [3]},
        (4, 3, 3, 3),
        (1, 1),
        (0, 0),
        (1, 1),
        1,
    ),
    (
        "groups_stride_pad",
        (2, 4, 9, 8),
        {"num_output": 6, "group": 2, "kernel_size": [3], "stride": [2], "pad": [1]},
        (6, 2, 3, 3),
        (2, 2),
        (1, 1),
        (1, 1),
        2,
    ),
    (
        "dilation",
        (1, 4, 9, 8),
        {"num_output": 5, "kernel_size": [3], "dilation": [2], "pad": [2]},
        (5, 4, 3, 3),
        (1, 1),
        (2, 2),
        (2, 2),
        1,
    ),
    (
        "depthwise",
        (2, 4, 7, 7),
        {"num_output": 4, "group": 4, "kernel_size": [3], "pad": [1]},
        (4, 1, 3, 3),
        (1, 1),
        (1, 1),
        (1, 1),
        4,
    ),
    (
        "rect_hw_fields",
        (1, 4, 9, 8),
        {
            "num_output": 3,
            "kernel_h": 1,
            "kernel_w": 3,
            "stride_h": 2,
            "stride_w": 1,
            "pad_h": 0,
            "pad_w": 1,
        },
        (3, 4, 1, 3),
        (2, 1),
        (0, 1),
        (1, 1),
        1,
    ),
    (
        "rect_repeated",
        (1, 2, 10, 9),
        {
            "num_output": 3,
            "kernel_size": [2, 3],
            "stride": [3, 2],
            "pad": [1, 0],
            "dilation": [2, 1],
        },
        (3, 2, 2, 3),
        (3, 2),
        (1, 0),
        (2, 1),
        1,
    ),
    (
        "one_by_one",
        (3, 4, 5, 6),
        {"num_output": 7, "kernel_size": [1]},
        (7, 4, 1, 1),
        (1, 1),
        (0, 0),
        (1, 1),
        1,
    ),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_convolution_matches_caffe_formula(case, bias):
    _, shape, param, wshape, stride, pad, dilation, group = case
    blobs = weights(wshape, (wshape[0],) if bias else None)
    conv = layer(
        "conv",
        "Convolution",
        ["data"],
        ["conv"],
        blobs=blobs,
        convolution_param={**param, "bias_term": bias},
    )
    x = RNG.standard_normal(shape).astype(np.float32)
    y = run([conv], {"data": x}, ["conv"])["conv"]
    expected = conv_ref(x, blobs[0], blobs[1] if bias else None, stride, pad, dilation, group)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("case", CONV_CASES[:5], ids=[c[0] for c in CONV_CASES[:5]])
def test_convolution_agrees_with_opencv(case, tmp_path):
    _, shape, param, wshape, *_ = case
    conv = layer(
        "conv",
        "Convolution",
        ["data"],
        ["conv"],
        blobs=weights(wshape, (wshape[0],)),
        convolution_param=param,
    )
    x = RNG.standard_normal(shape).astype(np.float32)
    ours = run([conv], {"data": x}, ["conv"])["conv"]
    theirs = run_opencv([conv], {"data": x}, ["conv"], tmp_path)["conv"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


def test_three_d_convolution():
    blobs = weights((2, 3, 2, 3, 2), (2,))
    conv = layer(
        "conv",
        "Convolution",
        ["data"],
        ["conv"],
        blobs=blobs,
        convolution_param={
            "num_output": 2,
            "kernel_size": [2, 3, 2],
            "stride": [1, 2, 1],
            "pad": [1, 0, 1],
        },
    )
    x = RNG.standard_normal((2, 3, 4, 7, 5)).astype(np.float32)
    y = run([conv], {"data": x}, ["conv"])["conv"]
    expected = conv_ref(x, blobs[0], blobs[1], (1, 2, 1), (1, 0, 1), (1, 1, 1), 1)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("axis", [2, -3])
def test_axis_above_one_folds_leading_axes_into_records(axis):
    blobs = weights((3, 4, 3, 3), (3,))
    conv = layer(
        "conv",
        "Convolution",
        ["data"],
        ["conv"],
        blobs=blobs,
        convolution_param={"num_output": 3, "kernel_size": [3], "pad": [1], "axis": axis},
    )
    x = RNG.standard_normal((2, 5, 4, 6, 6)).astype(np.float32)
    y = run([conv], {"data": x}, ["conv"])["conv"]
    expected = conv_ref(
        x.reshape(10, 4, 6, 6), blobs[0], blobs[1], (1, 1), (1, 1), (1, 1), 1
    ).reshape(2, 5, 3, 6, 6)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_several_bottoms_share_the_weights():
    blobs = weights((2, 3, 3, 3), (2,))
    conv = layer(
        "conv",
        "Convolution",
        ["a", "b"],
        ["ya", "yb"],
        blobs=blobs,
        convolution_param={"num_output": 2, "kernel_size": [3]},
    )
    a, b = (RNG.standard_normal((2, 3, 5, 5)).astype(np.float32) for _ in range(2))
    out = run([conv], {"a": a, "b": b}, ["ya", "yb"])
    for x, y in ((a, out["ya"]), (b, out["yb"])):
        np.testing.assert_allclose(
            y, conv_ref(x, *blobs, (1, 1), (0, 0), (1, 1), 1), rtol=1e-4, atol=1e-4
        )


# (id, input shape, convolution_param, weight shape (C_in, C_out/group, k...),
#  stride, pad, dilation, group)
DECONV_CASES = [
    (
        "stride2",
        (2, 3, 4, 5),
        {"num_output": 4, "kernel_size": [3], "stride": [2]},
        (3, 4, 3, 3),
        (2, 2),
        (0, 0),
        (1, 1),
        1,
    ),
    (
        "pad_groups",
        (1, 4, 5, 5),
        {"num_output": 6, "group": 2, "kernel_size": [4], "stride": [2], "pad": [1]},
        (4, 3, 4, 4),
        (2, 2),
        (1, 1),
        (1, 1),
        2,
    ),
    (
        "dilation_rect",
        (1, 2, 4, 6),
        {
            "num_output": 3,
            "kernel_h": 3,
            "kernel_w": 2,
            "stride_h": 1,
            "stride_w": 3,
            "dilation": [2],
        },
        (2, 3, 3, 2),
        (1, 3),
        (0, 0),
        (2, 2),
        1,
    ),
]


@pytest.mark.parametrize("case", DECONV_CASES, ids=[c[0] for c in DECONV_CASES])
def test_deconvolution_matches_caffe_formula(case):
    _, shape, param, wshape, stride, pad, dilation, group = case
    blobs = weights(wshape, (param["num_output"],))
    deconv = layer("up", "Deconvolution", ["data"], ["up"], blobs=blobs, convolution_param=param)
    x = RNG.standard_normal(shape).astype(np.float32)
    y = run([deconv], {"data": x}, ["up"])["up"]
    expected = deconv_ref(x, blobs[0], blobs[1], stride, pad, dilation, group)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_deconvolution_agrees_with_opencv(tmp_path):
    _, shape, param, wshape, *_ = DECONV_CASES[1]
    deconv = layer(
        "up",
        "Deconvolution",
        ["data"],
        ["up"],
        blobs=weights(wshape, (6,)),
        convolution_param=param,
    )
    x = RNG.standard_normal(shape).astype(np.float32)
    ours = run([deconv], {"data": x}, ["up"])["up"]
    theirs = run_opencv([deconv], {"data": x}, ["up"], tmp_path)["up"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


# (id, convolution_param, blobs, message fragment)
REFUSALS = [
    (
        "wrong_weight_shape",
        {"num_output": 4, "kernel_size": [3]},
        [np.zeros((4, 3, 2, 2))],
        "expected (4, 3, 3, 3)",
    ),
    (
        "missing_bias",
        {"num_output": 4, "kernel_size": [3]},
        [np.zeros((4, 3, 3, 3))],
        "bias (blob 1",
    ),
    (
        "group_not_dividing",
        {"num_output": 4, "kernel_size": [3], "group": 2},
        [np.zeros((4, 1, 3, 3)), np.zeros(4)],
        "group 2 must divide",
    ),
    ("no_kernel", {"num_output": 4}, [], "kernel_size is required"),
    (
        "both_kernel_forms",
        {"num_output": 4, "kernel_size": [3], "kernel_h": 3, "kernel_w": 3},
        [],
        "not both",
    ),
    (
        "kernel_too_big",
        {"num_output": 4, "kernel_size": [9]},
        [np.zeros((4, 3, 9, 9)), np.zeros(4)],
        "larger than",
    ),
    (
        "zero_stride",
        {"num_output": 4, "kernel_size": [3], "stride": [0]},
        [],
        "stride must be positive",
    ),
    ("batch_axis", {"num_output": 4, "kernel_size": [3], "axis": 0}, [], "batch axis"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refuses_what_caffe_refuses(case):
    _, param, blobs, message = case
    conv = layer("conv", "Convolution", ["data"], ["conv"], blobs=blobs, convolution_param=param)
    with pytest.raises(LayerError, match=re.escape(message)) as error:
        run([conv], {"data": np.zeros((1, 3, 5, 5), np.float32)}, ["conv"])
    assert error.value.layer == "conv"


@pytest.mark.parametrize("model", ["zoo_conv_variants"])
def test_reference_models_match_caffe(model):
    assert_matches_reference(model)
