"""Scale and Bias against numpy broadcasting of Caffe's operand over axis .. axis + num_axes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(9)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


def along(operand, axis, rank):
    """Caffe's broadcast: the operand's dims sit at axis .. axis + ndim; the rest repeat."""
    return operand.reshape(*([1] * axis), *operand.shape, *([1] * (rank - axis - operand.ndim)))


# (id, scale_param, operand shape, the axis it is applied from)
LEARNED = [
    ("channels", {}, (3,), 1),
    ("c_h", {"axis": 1, "num_axes": 2}, (3, 4), 1),
    ("rest", {"num_axes": -1}, (3, 4, 5), 1),
    ("scalar", {"num_axes": 0}, (), 0),
    ("scalar_any_axis", {"axis": 2, "num_axes": 0}, (), 0),
    ("negative_axis", {"axis": -2, "num_axes": 1}, (4,), 2),
    ("last_axis", {"axis": -1}, (5,), 3),
]


@pytest.mark.parametrize("bias_term", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("case", LEARNED, ids=[c[0] for c in LEARNED])
def test_learned_scale(case, bias_term):
    _, param, shape, axis = case
    blobs = [RNG.standard_normal(shape).astype(np.float32) for _ in range(1 + bias_term)]
    scale = layer(
        "s", "Scale", ["data"], ["s"], blobs=blobs, scale_param={**param, "bias_term": bias_term}
    )
    y = run([scale], {"data": X}, ["s"])["s"]
    expected = X * along(blobs[0], axis, 4) + (along(blobs[1], axis, 4) if bias_term else 0)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", LEARNED, ids=[c[0] for c in LEARNED])
def test_learned_bias(case):
    _, param, shape, axis = case
    b = RNG.standard_normal(shape).astype(np.float32)
    y = run([layer("b", "Bias", ["data"], ["b"], blobs=[b], bias_param=param)], {"data": X}, ["b"])[
        "b"
    ]
    np.testing.assert_allclose(y, X + along(b, axis, 4), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind, field", [("Scale", "scale_param"), ("Bias", "bias_param")])
@pytest.mark.parametrize("axis, operand_shape", [(0, (2, 3)), (1, (3, 4)), (2, (4, 5))])
def test_operand_from_a_second_bottom(kind, field, axis, operand_shape):
    operand = RNG.standard_normal(operand_shape).astype(np.float32)
    two = layer("y", kind, ["data", "operand"], ["y"], **{field: {"axis": axis}})
    y = run([two], {"data": X, "operand": operand}, ["y"])["y"]
    combine = np.multiply if kind == "Scale" else np.add
    np.testing.assert_allclose(y, combine(X, along(operand, axis, 4)), rtol=1e-6, atol=1e-6)


def test_scale_from_a_second_bottom_with_a_learned_bias():
    s = RNG.standard_normal((3, 4)).astype(np.float32)
    b = RNG.standard_normal((3, 4)).astype(np.float32)
    scale = layer(
        "y", "Scale", ["data", "s"], ["y"], blobs=[b], scale_param={"axis": 1, "bias_term": True}
    )
    y = run([scale], {"data": X, "s": s}, ["y"])["y"]
    np.testing.assert_allclose(y, X * along(s, 1, 4) + along(b, 1, 4), rtol=1e-6, atol=1e-6)


def test_scale_agrees_with_opencv(tmp_path):
    blobs = [RNG.standard_normal(3).astype(np.float32), RNG.standard_normal(3).astype(np.float32)]
    scale = layer("s", "Scale", ["data"], ["s"], blobs=blobs, scale_param={"bias_term": True})
    ours = run([scale], {"data": X}, ["s"])["s"]
    theirs = run_opencv([scale], {"data": X}, ["s"], tmp_path)["s"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


# (id, type, param, blobs, message fragment)
REFUSALS = [
    ("wrong_shape", "Scale", {"scale_param": {}}, [np.ones(4)], "has shape (4,), expected (3,)"),
    ("missing_bias", "Scale", {"scale_param": {"bias_term": True}}, [np.ones(3)], "bias (blob 1"),
    (
        "past_the_end",
        "Scale",
        {"scale_param": {"axis": 3, "num_axes": 2}},
        [np.ones(5)],
        "extend past",
    ),
    ("bad_num_axes", "Bias", {"bias_param": {"num_axes": -2}}, [np.ones(3)], "num_axes must be -1"),
    ("batch_axis", "Bias", {"bias_param": {"axis": 0}}, [np.ones(2)], "depend on the batch size"),
    ("axis_out_of_range", "Bias", {"bias_param": {"axis": 4}}, [np.ones(3)], "out of range"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refuses_what_caffe_refuses(case):
    _, kind, param, blobs, message = case
    with pytest.raises(LayerError, match=re.escape(message)):
        run([layer("y", kind, ["data"], ["y"], blobs=blobs, **param)], {"data": X}, ["y"])


def test_refuses_a_second_bottom_of_the_wrong_shape():
    two = layer("y", "Scale", ["data", "s"], ["y"], scale_param={"axis": 1})
    with pytest.raises(
        LayerError, match=re.escape("expected the input's dims from axis 1: (3, 4)")
    ):
        run([two], {"data": X, "s": np.ones((3, 5), np.float32)}, ["y"])


@pytest.mark.parametrize("model", ["zoo_scale", "zoo_bias", "zoo_inplace_split"])
def test_reference_models_match_caffe(model):
    assert_matches_reference(model)
