"""Reduction, ArgMax and Softmax against numpy statements of Caffe's semantics.

OpenCV 4.x reads neither Reduction nor ArgMax from Caffe; it checks Softmax.
"""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(23)
X = RNG.standard_normal((3, 4, 5, 6)).astype(np.float32)


def run_one(layer_type, x=X, **params):
    return run([layer("out", layer_type, ["data"], ["out"], **params)], {"data": x}, ["out"])["out"]


def tail_axes(axis, ndim=4):
    return tuple(range(axis, ndim))


@pytest.mark.parametrize(
    ("param", "reference"),
    [
        ({"axis": 1}, lambda x: x.sum(tail_axes(1))),
        ({"axis": 2, "operation": "ASUM"}, lambda x: np.abs(x).sum(tail_axes(2))),
        ({"axis": -1, "operation": "SUMSQ"}, lambda x: (x * x).sum(3)),
        ({"axis": 1, "operation": "MEAN"}, lambda x: x.mean(tail_axes(1))),
        ({"axis": 2, "operation": "MEAN", "coeff": -0.5}, lambda x: -0.5 * x.mean(tail_axes(2))),
        ({"axis": 3, "coeff": 3}, lambda x: 3 * x.sum(3)),
    ],
    ids=["sum_axis_1", "asum_axis_2", "sumsq_last", "mean", "mean_coeff", "sum_coeff"],
)
def test_reduction(param, reference):
    out = run_one("Reduction", reduction_param=param)
    expected = reference(X.astype(np.float64))
    assert out.shape == expected.shape  # Caffe keeps the axes before `axis` only
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_reduction_refuses_the_default_axis_0():
    with pytest.raises(LayerError, match="reduces along axis 0, the batch axis: .*defaults to 0"):
        run_one("Reduction")


@pytest.mark.parametrize("axis", [1, 2, 3, -1, -3])
def test_softmax(axis, tmp_path):
    softmax = layer("out", "Softmax", ["data"], ["out"], softmax_param={"axis": axis})
    out = run([softmax], {"data": X}, ["out"])["out"]
    e = np.exp(X - X.max(axis, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis, keepdims=True), rtol=1e-5, atol=1e-7)
    opencv = run_opencv([softmax], {"data": X}, ["out"], tmp_path)["out"]
    np.testing.assert_allclose(out, opencv, rtol=1e-5, atol=1e-7)


def test_softmax_refuses_batch_axis():
    with pytest.raises(LayerError, match="normalises along axis 0, the batch axis"):
        run_one("Softmax", softmax_param={"axis": -4})


def caffe_argmax(x, top_k=1, out_max_val=False, axis=None):
    """Caffe's ArgMaxLayer::Forward_cpu, loop for loop: (value, index) pairs, std::greater."""
    if axis is None:
        flat = x.reshape(len(x), -1)
        rows = 2 if out_max_val else 1
        out = np.zeros((len(x), rows, top_k) + (1,) * (x.ndim - 3), np.float32)
        for i, record in enumerate(flat):
            ranked = sorted(((v, j) for j, v in enumerate(record)), reverse=True)[:top_k]
            out[i, 0, :].flat = [j for _, j in ranked]
            if out_max_val:
                out[i, 1, :].flat = [v for v, _ in ranked]
        return out
    moved = np.moveaxis(x, axis, -1)
    out = np.zeros(moved.shape[:-1] + (top_k,), np.float32)
    for index in np.ndindex(moved.shape[:-1]):
        ranked = sorted(((v, j) for j, v in enumerate(moved[index])), reverse=True)[:top_k]
        out[index] = [v if out_max_val else j for v, j in ranked]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize(
    "param",
    [
        {},
        {"top_k": 3},
        {"out_max_val": True},
        {"out_max_val": True, "top_k": 4},
        {"axis": 1},
        {"axis": 2, "top_k": 2},
        {"axis": -1, "top_k": 3, "out_max_val": True},
    ],
    ids=["default", "top_3", "max_val", "max_val_top_4", "axis_1", "axis_2_top_2", "last_values"],
)
def test_argmax(param):
    out = run_one("ArgMax", argmax_param=param)
    np.testing.assert_array_equal(out, caffe_argmax(X, **param))


@pytest.mark.parametrize("shape", [(2, 7), (2, 3, 4)])
def test_argmax_without_axis_pads_to_three_axes(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    out = run_one("ArgMax", x, argmax_param={"out_max_val": True, "top_k": 2})
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out, caffe_argmax(x, top_k=2, out_max_val=True))


def test_argmax_ranks_ties_by_larger_index_first():
    x = np.array([[1.0, 5.0, 3.0, 5.0, 5.0, 0.0]], np.float32)
    out = run_one("ArgMax", x, argmax_param={"top_k": 4})
    np.testing.assert_array_equal(out.ravel(), [4, 3, 1, 2])
    out = run_one("ArgMax", x, argmax_param={"top_k": 3, "axis": 1})
    np.testing.assert_array_equal(out, [[4, 3, 1]])


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"top_k": 0}, "argmax_param.top_k must be at least 1, got 0"),
        ({"top_k": 121}, r"top_k 121 is more than the 120 values per record of \(3, 4, 5, 6\)"),
        ({"axis": 1, "top_k": 5}, r"top_k 5 is more than the 4 values on axis 1"),
        ({"axis": 0}, "ranks values along axis 0, the batch axis"),
        ({"axis": 4}, "argmax_param.axis 4 is out of range"),
    ],
)
def test_argmax_refusals(param, message):
    with pytest.raises(LayerError, match=message):
        run_one("ArgMax", argmax_param=param)


def test_softmax_matches_real_caffe():
    assert_matches_reference("zoo_softmax_axis")
