"""Concat and Slice against numpy statements of Caffe's semantics, and against OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(13)
A = RNG.standard_normal((2, 2, 3, 5)).astype(np.float32)
B = RNG.standard_normal((2, 3, 3, 5)).astype(np.float32)
INPUTS = {"a": A, "b": B}


@pytest.mark.parametrize(
    ("bottoms", "param", "expected"),
    [
        (["a", "b"], {}, np.concatenate([A, B], 1)),
        (["b", "a"], {"axis": -3}, np.concatenate([B, A], 1)),
        (["a", "a"], {"axis": 2}, np.concatenate([A, A], 2)),
        (["a", "a", "a"], {"axis": -1}, np.concatenate([A, A, A], 3)),
        (["a", "b"], {"concat_dim": 1}, np.concatenate([A, B], 1)),
        (["a"], {"axis": 0}, A),
    ],
    ids=["axis_1", "negative_axis", "same_blob_twice", "three", "concat_dim", "one_bottom"],
)
def test_concat(bottoms, param, expected, tmp_path):
    concat = layer("out", "Concat", bottoms, ["out"], concat_param=param)
    inputs = {name: INPUTS[name] for name in dict.fromkeys(bottoms)}
    out = run([concat], inputs, ["out"])["out"]
    np.testing.assert_array_equal(out, expected)
    if len(bottoms) > 1:  # OpenCV 4.x returns uninitialised memory for a one-bottom Concat
        opencv = run_opencv([concat], inputs, ["out"], tmp_path)["out"]
        np.testing.assert_array_equal(opencv, expected)


@pytest.mark.parametrize(
    ("tops", "param", "expected"),
    [
        (["s0", "s1", "s2"], {"axis": 1, "slice_point": [1, 2]}, np.split(B, [1, 2], 1)),
        (["s0", "s1"], {"axis": -1, "slice_point": [4]}, np.split(B, [4], 3)),
        (["s0", "s1", "s2"], {"axis": 1}, np.split(B, 3, 1)),
        (["s0", "s1", "s2", "s3", "s4"], {"axis": 3}, np.split(B, 5, 3)),
        (["s0", "s1"], {"slice_dim": 2, "slice_point": [1]}, np.split(B, [1], 2)),
        (["s0"], {"axis": 0}, [B]),
    ],
    ids=["slice_points", "negative_axis", "equal_parts", "five_tops", "slice_dim", "one_top"],
)
def test_slice(tops, param, expected):
    slice_layer = layer("slice", "Slice", ["b"], tops, slice_param=param)
    out = run([slice_layer], {"b": B}, tops)
    for top, part in zip(tops, expected, strict=True):
        np.testing.assert_array_equal(out[top], part)


def test_slice_agrees_with_opencv(tmp_path):
    # OpenCV's forward() takes layer names; a layer named after its first top lets it find s0
    param = {"axis": 2, "slice_point": [2]}
    slice_layer = layer("s0", "Slice", ["b"], ["s0", "s1"], slice_param=param)
    ours = run([slice_layer], {"b": B}, ["s0"])["s0"]
    np.testing.assert_array_equal(ours, run_opencv([slice_layer], {"b": B}, ["s0"], tmp_path)["s0"])


def test_slice_then_concat_round_trips():
    cut = layer("cut", "Slice", ["b"], ["p", "q"], slice_param={"axis": 3, "slice_point": [2]})
    join = layer("join", "Concat", ["q", "p"], ["out"], concat_param={"axis": 3})
    out = run([cut, join], {"b": B}, ["out"])["out"]
    np.testing.assert_array_equal(out, np.concatenate([B[..., 2:], B[..., :2]], 3))


@pytest.mark.parametrize(
    ("bottoms", "param", "message"),
    [
        (["a", "b"], {"axis": 2}, r"except on axis 2: 'a' is \(2, 2, 3, 5\), 'b' is \(2, 3, 3,"),
        (["a", "b"], {"axis": 4}, "concat_param.axis 4 is out of range for a 4-D input"),
        (["a", "b"], {"axis": -5}, "out of range"),
        (["a", "b"], {"axis": 1, "concat_dim": 1}, "axis or concat_param.concat_dim, not both"),
        (["a", "b"], {"concat_dim": 4}, "concat_dim 4 is out of range"),
        (["a", "a"], {"axis": 0}, "concatenates along axis 0, the batch axis"),
        (["a", "flat"], {}, "same number of axes"),
    ],
)
def test_concat_refusals(bottoms, param, message):
    inputs = {"a": A, "b": B, "flat": A.reshape(2, -1)}
    with pytest.raises(LayerError, match=message):
        run([layer("out", "Concat", bottoms, ["out"], concat_param=param)], inputs, ["out"])


@pytest.mark.parametrize(
    ("tops", "param", "message"),
    [
        (["s0", "s1"], {"axis": 2}, "2 tops do not evenly divide axis 2 of size 3"),
        (["s0", "s1", "s2"], {"slice_point": [1]}, "3 tops need 2 slice_point values, got 1"),
        (["s0", "s1"], {"slice_point": [3]}, r"\[3\] must increase strictly and stay inside"),
        (["s0", "s1", "s2"], {"slice_point": [2, 1]}, "must increase strictly"),
        (["s0", "s1"], {"axis": 0}, "slices along axis 0, the batch axis"),
        (["s0", "s1"], {"axis": 1, "slice_dim": 1}, "not both"),
    ],
)
def test_slice_refusals(tops, param, message):
    with pytest.raises(LayerError, match=message):
        run([layer("slice", "Slice", ["b"], tops, slice_param=param)], {"b": B}, tops)


def test_matches_real_caffe():
    assert_matches_reference("zoo_concat_slice")
