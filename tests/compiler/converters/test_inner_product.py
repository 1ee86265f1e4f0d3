"""InnerProduct against a numpy statement of Caffe's (M x K) . (K x N) product, and OpenCV."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(5)


def inner_product_ref(x, w, b, axis, transpose):
    """Caffe: the axes before `axis` are rows of K values; W is (N, K), or (K, N) transposed."""
    rows = x.reshape(math.prod(x.shape[:axis]), -1).astype(np.float64)
    y = rows @ (w if transpose else w.T)
    if b is not None:
        y += b
    return y.reshape(*x.shape[:axis], -1)


def ip_layer(x_shape, num_output, axis=1, transpose=False, bias=True):
    k = math.prod(x_shape[axis % len(x_shape) :])
    w = RNG.standard_normal((k, num_output) if transpose else (num_output, k)).astype(np.float32)
    blobs = [w, RNG.standard_normal(num_output).astype(np.float32)] if bias else [w]
    param = {"num_output": num_output, "axis": axis, "transpose": transpose, "bias_term": bias}
    return layer(
        "ip", "InnerProduct", ["data"], ["ip"], blobs=blobs, inner_product_param=param
    ), blobs


# (id, input shape, num_output, axis, transpose, bias)
CASES = [
    ("default_4d", (2, 3, 4, 5), 7, 1, False, True),
    ("two_d", (3, 6), 4, 1, False, True),
    ("axis_2", (2, 3, 4, 5), 6, 2, False, True),
    ("axis_minus_1", (2, 3, 4, 5), 3, -1, False, True),
    ("axis_minus_3", (2, 3, 4, 5), 3, -3, False, False),
    ("transpose", (2, 3, 4, 5), 4, 1, True, True),
    ("axis_2_transpose", (2, 3, 4, 5), 6, 2, True, True),
    ("transpose_no_bias", (2, 3, 4, 5), 4, 1, True, False),
    ("no_bias", (2, 8), 5, 1, False, False),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_inner_product_matches_caffe_formula(case):
    _, shape, n, axis, transpose, bias = case
    ip, blobs = ip_layer(shape, n, axis, transpose, bias)
    x = RNG.standard_normal(shape).astype(np.float32)
    y = run([ip], {"data": x}, ["ip"])["ip"]
    expected = inner_product_ref(
        x, blobs[0], blobs[1] if bias else None, axis % len(shape), transpose
    )
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


# OpenCV ignores transpose: true, so only the plain layouts are compared with it
@pytest.mark.parametrize(
    "case", [c for c in CASES if not c[4]], ids=[c[0] for c in CASES if not c[4]]
)
def test_inner_product_agrees_with_opencv(case, tmp_path):
    _, shape, n, axis, transpose, bias = case
    ip, _ = ip_layer(shape, n, axis, transpose, bias)
    x = RNG.standard_normal(shape).astype(np.float32)
    ours = run([ip], {"data": x}, ["ip"])["ip"]
    theirs = run_opencv([ip], {"data": x}, ["ip"], tmp_path)["ip"]
    np.testing.assert_allclose(
        ours, theirs.reshape(ours.shape), rtol=1e-4, atol=1e-5 * np.abs(theirs).max()
    )


def test_graph_is_one_gemm_for_a_plain_layer():
    from caffebatch.compiler.compile import compile_net
    from tests.compiler.netbuilder import net

    ip, _ = ip_layer((2, 3, 4, 5), 7)
    compiled = compile_net(net([ip], {"data": (2, 3, 4, 5)}), ["ip"])
    assert [node.op_type for node in compiled.onnx.graph.node] == ["Flatten", "Gemm"]


# (id, input shape, weights, inner_product_param, message fragment)
REFUSALS = [
    (
        "wrong_k",
        (2, 3, 4),
        [np.zeros((5, 11)), np.zeros(5)],
        {"num_output": 5},
        "has shape (5, 11), expected (5, 12)",
    ),
    ("missing_bias", (2, 3, 4), [np.zeros((5, 12))], {"num_output": 5}, "bias (blob 1"),
    ("batch_axis", (2, 3, 4), [], {"num_output": 5, "axis": 0}, "batch axis"),
    ("axis_out_of_range", (2, 3, 4), [], {"num_output": 5, "axis": 3}, "out of range"),
    ("no_num_output", (2, 3, 4), [], {}, "num_output must be positive"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refuses_what_caffe_refuses(case):
    _, shape, blobs, param, message = case
    ip = layer("ip", "InnerProduct", ["data"], ["ip"], blobs=blobs, inner_product_param=param)
    with pytest.raises(LayerError, match=re.escape(message)) as error:
        run([ip], {"data": np.zeros(shape, np.float32)}, ["ip"])
    assert error.value.layer == "ip"


@pytest.mark.parametrize("model", ["zoo_inner_product_axis", "lenet"])
def test_reference_models_match_caffe(model):
    assert_matches_reference(model)
