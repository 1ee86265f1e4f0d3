"""Pooling and SPP against a numpy transcription of Caffe's pooling loops, and OpenCV."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(11)


def caffe_size(size, k, s, p, ceil=True):
    out = (math.ceil if ceil else math.floor)((size + 2 * p - k) / s) + 1
    if p and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_ref(x, method, k, s, p, ceil=True):
    """PoolingLayer::Forward (MAX, AVE) and StoPoolForwardTest (STOCHASTIC), loop for loop."""
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    n, c, h, w = x.shape
    oh, ow = caffe_size(h, kh, sh, ph, ceil), caffe_size(w, kw, sw, pw, ceil)
    y = np.zeros((n, c, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            divisor = (h1 - h0) * (w1 - w0)
            cells = x[:, :, max(h0, 0) : min(h1, h), max(w0, 0) : min(w1, w)].astype(np.float64)
            if method == "MAX":
                y[:, :, i, j] = cells.max(axis=(2, 3))
            elif method == "AVE":
                y[:, :, i, j] = cells.sum(axis=(2, 3)) / divisor
            else:
                y[:, :, i, j] = (cells**2).sum(axis=(2, 3)) / (
                    np.finfo(np.float32).tiny + cells.sum(axis=(2, 3))
                )
    return y


def pooling_layer(**param):
    return layer("pool", "Pooling", ["data"], ["pool"], pooling_param=param)


# (id, input H x W, pooling_param, kernel, stride, pad, ceil)
CASES = [
    (
        "max_ceil",
        (8, 8),
        {"pool": "MAX", "kernel_size": 3, "stride": 2},
        (3, 3),
        (2, 2),
        (0, 0),
        True,
    ),
    (
        "max_ceil_pad_overhang",
        (6, 6),
        {"pool": "MAX", "kernel_size": 3, "stride": 2, "pad": 1},
        (3, 3),
        (2, 2),
        (1, 1),
        True,
    ),
    (
        "max_last_window_dropped",
        (5, 5),
        {"pool": "MAX", "kernel_size": 2, "stride": 2, "pad": 1},
        (2, 2),
        (2, 2),
        (1, 1),
        True,
    ),
    (
        "ave_pad_s1",
        (7, 6),
        {"pool": "AVE", "kernel_size": 3, "stride": 1, "pad": 1},
        (3, 3),
        (1, 1),
        (1, 1),
        True,
    ),
    (
        "ave_pad_s2",
        (7, 6),
        {"pool": "AVE", "kernel_size": 3, "stride": 2, "pad": 1},
        (3, 3),
        (2, 2),
        (1, 1),
        True,
    ),
    (
        "ave_ceil_pad_overhang",
        (6, 6),
        {"pool": "AVE", "kernel_size": 3, "stride": 2, "pad": 1},
        (3, 3),
        (2, 2),
        (1, 1),
        True,
    ),
    (
        "ave_ceil_overhang_no_pad",
        (8, 7),
        {"pool": "AVE", "kernel_size": 3, "stride": 2},
        (3, 3),
        (2, 2),
        (0, 0),
        True,
    ),
    (
        "ave_overhang_pad_one_axis",
        (8, 6),
        {"pool": "AVE", "kernel_h": 3, "kernel_w": 3, "stride": 2, "pad_h": 0, "pad_w": 1},
        (3, 3),
        (2, 2),
        (0, 1),
        True,
    ),
    (
        "rect",
        (9, 11),
        {
            "pool": "MAX",
            "kernel_h": 3,
            "kernel_w": 2,
            "stride_h": 2,
            "stride_w": 3,
            "pad_h": 1,
            "pad_w": 1,
        },
        (3, 2),
        (2, 3),
        (1, 1),
        True,
    ),
    (
        "rect_ave",
        (9, 11),
        {
            "pool": "AVE",
            "kernel_h": 3,
            "kernel_w": 2,
            "stride_h": 2,
            "stride_w": 3,
            "pad_h": 1,
            "pad_w": 1,
        },
        (3, 2),
        (2, 3),
        (1, 1),
        True,
    ),
    (
        "max_floor",
        (8, 8),
        {"pool": "MAX", "kernel_size": 3, "stride": 2, "round_mode": "FLOOR"},
        (3, 3),
        (2, 2),
        (0, 0),
        False,
    ),
    (
        "ave_floor_pad",
        (8, 8),
        {"pool": "AVE", "kernel_size": 3, "stride": 2, "pad": 1, "round_mode": "FLOOR"},
        (3, 3),
        (2, 2),
        (1, 1),
        False,
    ),
    (
        "kernel_larger_than_input",
        (2, 3),
        {"pool": "AVE", "kernel_size": 4, "stride": 1, "pad": 1},
        (4, 4),
        (1, 1),
        (1, 1),
        True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_pooling_matches_caffe_loops(case):
    _, hw, param, k, s, p, ceil = case
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    y = run([pooling_layer(**param)], {"data": x}, ["pool"])["pool"]
    expected = pool_ref(x, param["pool"], k, s, p, ceil)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


# OpenCV reads no round_mode, and asserts on a kernel larger than the input
OPENCV_CASES = [c for c in CASES if c[-1] and c[0] != "kernel_larger_than_input"]


@pytest.mark.parametrize("case", OPENCV_CASES, ids=[c[0] for c in OPENCV_CASES])
def test_pooling_agrees_with_opencv(case, tmp_path):
    _, hw, param, *_ = case
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    ours = run([pooling_layer(**param)], {"data": x}, ["pool"])["pool"]
    theirs = run_opencv([pooling_layer(**param)], {"data": x}, ["pool"], tmp_path)["pool"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_stochastic_is_the_probability_weighted_average():
    x = RNG.uniform(0, 2, (2, 3, 7, 8)).astype(np.float32)
    x[0, 0, :3, :3] = 0  # an all-zero window gives 0, as in Caffe
    y = run([pooling_layer(pool="STOCHASTIC", kernel_size=3, stride=2)], {"data": x}, ["pool"])[
        "pool"
    ]
    np.testing.assert_allclose(
        y, pool_ref(x, "STOCHASTIC", (3, 3), (2, 2), (0, 0)), rtol=1e-5, atol=1e-6
    )
    assert y[0, 0, 0, 0] == 0


@pytest.mark.parametrize("method", ["MAX", "AVE", "STOCHASTIC"])
def test_global_pooling_on_a_non_square_map(method):
    x = RNG.uniform(0.1, 2, (3, 4, 5, 7)).astype(np.float32)
    y = run([pooling_layer(pool=method, global_pooling=True)], {"data": x}, ["pool"])["pool"]
    np.testing.assert_allclose(y, pool_ref(x, method, (5, 7), (1, 1), (0, 0)), rtol=1e-5, atol=1e-6)


def test_onnx_ceil_mode_is_not_caffes_rule():
    """Why the graph uses floor mode with explicit end pads: the ONNX spec's ceil_mode keeps a
    last window that starts in the right padding, where Caffe drops it (5 -> 3, not 4)."""
    node = helper.make_node(
        "MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = onnx.shape_inference.infer_shapes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    )
    spec = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    x = RNG.standard_normal((1, 1, 5, 5)).astype(np.float32)
    ours = run([pooling_layer(pool="MAX", kernel_size=2, stride=2, pad=1)], {"data": x}, ["pool"])[
        "pool"
    ]
    assert (
        spec == [1, 1, 4, 4]
        and ours.shape == (1, 1, 3, 3) == pool_ref(x, "MAX", (2, 2), (2, 2), (1, 1)).shape
    )


def test_floor_mode_graph_has_no_pad_nodes():
    from caffebatch.compiler.compile import compile_net
    from tests.compiler.netbuilder import net

    compiled = compile_net(
        net([pooling_layer(pool="AVE", kernel_size=3, stride=2, pad=1)], {"data": (1, 2, 6, 6)}),
        ["pool"],
    )
    ops = [node.op_type for node in compiled.onnx.graph.node]
    assert "Pad" not in ops and onnx.checker.check_model(compiled.onnx) is None
    assert all(
        attr.i == 0
        for node in compiled.onnx.graph.node
        for attr in node.attribute
        if attr.name == "ceil_mode"
    )


def spp_ref(x, height, method):
    levels = []
    for level in range(height):
        bins = 2**level
        k = [math.ceil(d / bins) for d in x.shape[2:]]
        p = [(kk * bins - d + 1) // 2 for kk, d in zip(k, x.shape[2:], strict=True)]
        levels.append(pool_ref(x, method, k, k, p))
    if height == 1:
        return levels[0]
    return np.concatenate([y.reshape(len(x), -1) for y in levels], axis=1)


@pytest.mark.parametrize(
    "height, method, hw", [(1, "MAX", (6, 5)), (3, "MAX", (13, 11)), (3, "AVE", (12, 9))]
)
def test_spp_pools_each_level_then_concatenates(height, method, hw):
    x = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    spp = layer(
        "spp", "SPP", ["data"], ["spp"], spp_param={"pyramid_height": height, "pool": method}
    )
    y = run([spp], {"data": x}, ["spp"])["spp"]
    expected = spp_ref(x, height, method)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


# (id, pooling_param, input H x W, message fragment)
REFUSALS = [
    ("no_kernel", {"pool": "MAX"}, (5, 5), "kernel_size, or as both"),
    ("kernel_h_only", {"pool": "MAX", "kernel_h": 2}, (5, 5), "kernel_size, or as both"),
    (
        "global_with_kernel",
        {"pool": "MAX", "global_pooling": True, "kernel_size": 2},
        (5, 5),
        "global_pooling",
    ),
    (
        "global_with_stride",
        {"pool": "AVE", "global_pooling": True, "stride": 2},
        (5, 5),
        "stride 1",
    ),
    (
        "pad_not_below_kernel",
        {"pool": "MAX", "kernel_size": 2, "pad": 2},
        (5, 5),
        "smaller than the kernel",
    ),
    (
        "stochastic_pad",
        {"pool": "STOCHASTIC", "kernel_size": 3, "pad": 1},
        (5, 5),
        "only for MAX and AVE",
    ),
    (
        "pad_and_pad_h",
        {"pool": "MAX", "kernel_size": 3, "pad": 1, "pad_h": 1, "pad_w": 1},
        (5, 5),
        "give pad",
    ),
    ("empty_last_window", {"pool": "MAX", "kernel_size": 1, "stride": 3}, (5, 5), "empty window"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refuses_what_caffe_refuses(case):
    _, param, hw, message = case
    with pytest.raises(LayerError, match=message) as error:
        run([pooling_layer(**param)], {"data": np.zeros((1, 1, *hw), np.float32)}, ["pool"])
    assert error.value.layer == "pool"


def test_spp_refuses_levels_finer_than_the_input():
    spp = layer("spp", "SPP", ["data"], ["spp"], spp_param={"pyramid_height": 4})
    with pytest.raises(LayerError, match="pyramid level 3"):
        run([spp], {"data": np.zeros((1, 1, 13, 13), np.float32)}, ["spp"])


POOLING_MODELS = [
    "zoo_pool_max_ceil",
    "zoo_pool_max_ceil_pad_overhang",
    "zoo_pool_ave_pad",
    "zoo_pool_ave_ceil_pad_overhang",
    "zoo_pool_global",
    "zoo_pool_rect",
    "zoo_pool_round_floor",
]


@pytest.mark.parametrize("model", POOLING_MODELS)
def test_reference_models_match_caffe(model):
    assert_matches_reference(model)
