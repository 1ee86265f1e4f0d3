"""ShuffleChannel, ConvolutionDepthwise, Axpy and ReLU6 against numpy statements of the forks'
C++, and against OpenCV 4.x where it builds the layer."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(23)


def shuffle_ref(x, group):
    """farmingyard/ShuffleNet Resize_cpu(top, bottom, group, C / group, H * W): the plane of
    input channel i * (C / group) + j is copied to output channel j * group + i."""
    columns = x.shape[1] // group
    y = np.empty_like(x)
    for i in range(group):
        for j in range(columns):
            y[:, j * group + i] = x[:, i * columns + j]
    return y


def shuffle_layer(group):
    return layer(
        "shuffle", "ShuffleChannel", ["data"], ["shuffle"], shuffle_channel_param={"group": group}
    )


@pytest.mark.parametrize("group, shape", [(3, (2, 12, 5, 4)), (2, (1, 6, 3, 3)), (1, (2, 4, 2, 2))])
def test_shuffle_channel_matches_the_fork_and_opencv(group, shape, tmp_path):
    x = RNG.standard_normal(shape).astype(np.float32)
    ours = run([shuffle_layer(group)], {"data": x}, ["shuffle"])["shuffle"]
    np.testing.assert_array_equal(ours, shuffle_ref(x, group))
    theirs = run_opencv([shuffle_layer(group)], {"data": x}, ["shuffle"], tmp_path)["shuffle"]
    np.testing.assert_array_equal(ours, theirs)


def test_shuffle_channel_group_must_divide_the_channels():
    # The fork copies only group * (C / group) planes and leaves the rest unwritten
    with pytest.raises(LayerError, match="group 4 must divide") as error:
        run([shuffle_layer(4)], {"data": np.zeros((1, 6, 2, 2), np.float32)}, ["shuffle"])
    assert error.value.layer == "shuffle"


def depthwise_ref(x, w, b, stride, pad, dilation):
    """ConvolutionDepthwiseLayer::Forward_cpu: each channel with its own (kh, kw) filter."""
    n, c, h, width = x.shape
    kh, kw = w.shape[2:]
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0],) * 2, (pad[1],) * 2))
    oh = (h + 2 * pad[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    ow = (width + 2 * pad[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    row, column = i * stride[0] + p * dilation[0], j * stride[1] + q * dilation[1]
                    y[:, :, i, j] += padded[:, :, row, column] * w[:, 0, p, q]
    return y + b.reshape(1, c, 1, 1)


DEPTHWISE = [
    ("3x3_s1_p1", {"kernel_size": [3], "pad": [1]}, (1, 1), (1, 1), (1, 1)),
    ("3x3_s2_p1", {"kernel_size": [3], "stride": [2], "pad": [1]}, (2, 2), (1, 1), (1, 1)),
    ("3x3_dilated", {"kernel_size": [3], "pad": [2], "dilation": [2]}, (1, 1), (2, 2), (2, 2)),
    (
        "rect_s2x1",
        {"kernel_h": 3, "kernel_w": 2, "stride_h": 2, "stride_w": 1, "pad_h": 1, "pad_w": 0},
        (2, 1),
        (1, 0),
        (1, 1),
    ),
]


@pytest.mark.parametrize("case", DEPTHWISE, ids=[c[0] for c in DEPTHWISE])
def test_convolution_depthwise_matches_the_fork(case, tmp_path):
    _, param, stride, pad, dilation = case
    x = RNG.standard_normal((2, 4, 9, 8)).astype(np.float32)
    kernel = (3, 2) if "kernel_h" in param else (3, 3)
    w = RNG.standard_normal((4, 1, *kernel)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    # num_output and group are the fork's to ignore: the channels decide
    conv = layer(
        "dw",
        "ConvolutionDepthwise",
        ["data"],
        ["dw"],
        blobs=[w, b],
        convolution_param={"num_output": 99, "group": 1, **param},
    )
    ours = run([conv], {"data": x}, ["dw"])["dw"]
    expected = depthwise_ref(x, w, b, stride, pad, dilation)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    # OpenCV has no ConvolutionDepthwise; its grouped Convolution is the same computation
    grouped = layer(
        "dw",
        "Convolution",
        ["data"],
        ["dw"],
        blobs=[w, b],
        convolution_param={"num_output": 4, "group": 4, **param},
    )
    theirs = run_opencv([grouped], {"data": x}, ["dw"], tmp_path)["dw"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def axpy_ref(a, x, y):
    """SENet's AxpyLayer::Forward_cpu: top = y; then caffe_axpy(H * W, a[n, c], x, top)."""
    top = y.astype(np.float64).copy()
    n, c = x.shape[:2]
    for i in range(n):
        for j in range(c):
            top[i, j] += a.reshape(n, c)[i, j] * x[i, j]
    return top


def axpy_layer():
    return layer("axpy", "Axpy", ["a", "x", "y"], ["axpy"])


@pytest.mark.parametrize("a_shape", [(2, 3, 1, 1), (2, 3)])
def test_axpy_scales_bottom_one_and_adds_bottom_two(a_shape):
    a = RNG.uniform(0, 1, a_shape).astype(np.float32)
    x, y = (RNG.standard_normal((2, 3, 4, 5)).astype(np.float32) for _ in range(2))
    ours = run([axpy_layer()], {"a": a, "x": x, "y": y}, ["axpy"])["axpy"]
    np.testing.assert_allclose(ours, axpy_ref(a, x, y), rtol=1e-6, atol=1e-6)


def test_opencv_swaps_axpys_operands(tmp_path):
    """OpenCV 4.x builds Axpy as a * bottom 2 + bottom 1: wrong, so it is no reference here."""
    a = RNG.uniform(0.2, 0.8, (1, 3, 1, 1)).astype(np.float32)
    x, y = (RNG.standard_normal((1, 3, 4, 5)).astype(np.float32) for _ in range(2))
    inputs = {"a": a, "x": x, "y": y}
    theirs = run_opencv([axpy_layer()], inputs, ["axpy"], tmp_path)["axpy"]
    np.testing.assert_allclose(theirs, axpy_ref(a, y, x), rtol=1e-5, atol=1e-6)
    assert not np.allclose(theirs, axpy_ref(a, x, y), rtol=1e-3, atol=1e-3)


def test_axpy_refuses_a_that_is_not_per_channel():
    a = np.ones((1, 3, 2, 1), np.float32)
    x = np.ones((1, 3, 2, 2), np.float32)
    with pytest.raises(LayerError, match=r"a \(bottom 0\) must be") as error:
        run([axpy_layer()], {"a": a, "x": x, "y": x}, ["axpy"])
    assert error.value.layer == "axpy"


def test_relu6_clips_to_zero_and_six(tmp_path):
    x = RNG.uniform(-10, 10, (2, 3, 4, 4)).astype(np.float32)
    x[0, 0, 0, :3] = [0.0, 6.0, -0.0]
    relu6 = layer("relu6", "ReLU6", ["data"], ["relu6"])
    ours = run([relu6], {"data": x}, ["relu6"])["relu6"]
    np.testing.assert_array_equal(ours, np.minimum(np.maximum(x, 0), 6))  # chuanqi305/ssd
    theirs = run_opencv([relu6], {"data": x}, ["relu6"], tmp_path)["relu6"]
    np.testing.assert_array_equal(ours, theirs)
