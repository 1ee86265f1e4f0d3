"""Flatten and Reshape against Caffe's shape rules, at any batch size, and against OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.caffe.net import build_net
from caffebatch.caffe.read import read_prototxt
from caffebatch.compiler.compile import compile_net
from caffebatch.errors import LayerError
from caffebatch.runtime.scorer import Scorer
from tests.compiler.converters._reference import REFERENCE, assert_matches_reference
from tests.compiler.netbuilder import layer, net, run, run_opencv

RNG = np.random.default_rng(17)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


def scored_at_batches(one_layer, per_record: tuple[int, ...], batches=(1, 3)):
    """Compile at the declared batch 2 and score other batch sizes with the same model."""
    compiled = compile_net(net([one_layer], {"data": (2, *X.shape[1:])}), ["out"])
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    assert compiled.layers[0].tops[0].shape == (2, *per_record)
    for batch in batches:
        x = RNG.standard_normal((batch, *X.shape[1:])).astype(np.float32)
        out = scorer({"data": x})["out"]
        np.testing.assert_array_equal(out, x.reshape(batch, *per_record))


FLATTEN_CASES = [
    pytest.param({}, (60,), id="default"),
    pytest.param({"axis": 2}, (3, 20), id="axis_2"),
    pytest.param({"axis": 1, "end_axis": 2}, (12, 5), id="axis_1_end_2"),
    pytest.param({"axis": -2, "end_axis": -1}, (3, 20), id="negative_axes"),
    pytest.param({"axis": 3}, (3, 4, 5), id="last_axis_alone"),
    pytest.param({"axis": 2, "end_axis": 1}, (3, 1, 4, 5), id="end_before_axis_inserts_1"),
]


@pytest.mark.parametrize(("param", "per_record"), FLATTEN_CASES)
def test_flatten(param, per_record):
    scored_at_batches(layer("out", "Flatten", ["data"], ["out"], flatten_param=param), per_record)


RESHAPE_CASES = [
    pytest.param({"shape": {"dim": [0, -1, 2]}}, (30, 2), id="copy_infer"),
    pytest.param({"shape": {"dim": [0, 0, -1]}}, (3, 20), id="copy_copy_infer"),
    pytest.param({"shape": {"dim": [-1, 3, 20]}}, (3, 20), id="infer_batch"),
    pytest.param({"axis": 1, "num_axes": 2, "shape": {"dim": [-1]}}, (12, 5), id="axis_num_axes"),
    pytest.param(
        {"axis": -1, "num_axes": 0, "shape": {"dim": [1, 1]}}, (3, 4, 5, 1, 1), id="append_ones"
    ),
    pytest.param({"axis": 1, "num_axes": 0, "shape": {"dim": [1]}}, (1, 3, 4, 5), id="insert_one"),
    pytest.param({"axis": -3, "shape": {"dim": [2, -1]}}, (3, 2, 10), id="negative_axis"),
    pytest.param({"axis": -2, "shape": {"dim": [5, 1]}}, (3, 4, 5, 1), id="negative_axis_last"),
    pytest.param({"axis": 2, "shape": {"dim": [10, 2]}}, (3, 10, 2), id="explicit_tail"),
]


@pytest.mark.parametrize(("param", "per_record"), RESHAPE_CASES)
def test_reshape(param, per_record):
    scored_at_batches(layer("out", "Reshape", ["data"], ["out"], reshape_param=param), per_record)


def test_flatten_and_reshape_agree_with_opencv(tmp_path):
    layers = [
        layer("flat", "Flatten", ["data"], ["flat"], flatten_param={"axis": 2}),
        layer("resh", "Reshape", ["data"], ["resh"], reshape_param={"shape": {"dim": [0, -1, 2]}}),
    ]
    ours = run(layers, {"data": X}, ["flat", "resh"])
    opencv = run_opencv(layers, {"data": X}, ["flat", "resh"], tmp_path)
    for name in ("flat", "resh"):
        np.testing.assert_array_equal(ours[name], opencv[name].reshape(ours[name].shape))


def test_reshape_in_place():
    param = {"shape": {"dim": [0, -1]}}
    resh = layer("resh", "Reshape", ["data"], ["data@resh"], reshape_param=param)
    relu = layer("relu", "ReLU", ["data@resh"], ["data@relu"])
    out = run([resh, relu], {"data": X}, ["data@relu"])["data@relu"]
    np.testing.assert_array_equal(out, np.maximum(X, 0).reshape(2, 60))


def test_flatten_refuses_in_place():
    with pytest.raises(LayerError, match="Flatten cannot run in place"):
        flat = layer("flat", "Flatten", ["data"], ["data"])
        run([flat], {"data": X}, ["data"])


@pytest.mark.parametrize(
    ("param", "message"),
    [
        # tests/reference/invalid/reshape_count_mismatch, in Caffe's words
        (
            {"shape": {"dim": [0, 7, -1]}},
            (
                r"bottom count \(120\) of \(2, 3, 4, 5\) must be divisible by the product of "
                r"the specified dimensions \(14\)"
            ),
        ),
        ({"shape": {"dim": [0, -1, -1]}}, "more than one -1"),
        ({"shape": {"dim": [0, 7, 3]}}, r"count 42 of \(2, 7, 3\) must match input count 120"),
        ({"axis": 5, "shape": {"dim": [1]}}, "reshape_param.axis 5 is out of range for a 4-D"),
        ({"axis": -6, "shape": {"dim": [1]}}, "reshape_param.axis -6 is out of range"),
        ({"axis": 2, "num_axes": 3, "shape": {"dim": [-1]}}, r"axis \+ num_axes = 5 is beyond"),
        ({"num_axes": -2, "shape": {"dim": [-1]}}, "num_axes must be >= 0, or -1 for all; got -2"),
        ({"axis": 4, "shape": {"dim": [0]}}, "has a 0 at 0, but .* has no axis 4 to copy"),
        # these fold records together: Caffe's shape changes meaning with the batch size
        ({"shape": {"dim": [-1]}}, "does not keep axis 0 as the batch axis"),
        ({"shape": {"dim": [1, -1]}}, "does not keep axis 0 as the batch axis"),
        ({"shape": {"dim": [2, 3, 4, 5]}}, "does not keep axis 0 as the batch axis"),
        ({"shape": {"dim": [-1, 30]}}, "does not keep axis 0 as the batch axis"),
    ],
)
def test_reshape_refusals(param, message):
    with pytest.raises(LayerError, match=message):
        run([layer("out", "Reshape", ["data"], ["out"], reshape_param=param)], {"data": X}, ["out"])


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"axis": 0}, "does not keep axis 0 as the batch axis"),
        ({"axis": 4}, "flatten_param.axis 4 is out of range"),
        ({"axis": 3, "end_axis": 1}, r"flatten_param.end_axis \(1\) comes before axis \(3\)"),
    ],
)
def test_flatten_refusals(param, message):
    with pytest.raises(LayerError, match=message):
        run([layer("out", "Flatten", ["data"], ["out"], flatten_param=param)], {"data": X}, ["out"])


def test_matches_real_caffe():
    assert_matches_reference("zoo_flatten_reshape")


def test_refuses_what_real_caffe_refuses():
    # Caffe's own message is in tests/reference/invalid/reshape_count_mismatch/caffe_error.txt
    folder = REFERENCE / "invalid" / "reshape_count_mismatch"
    net = build_net(read_prototxt(folder / "deploy.prototxt"))
    expected = r"bottom count \(60\) .* divisible by the product of the specified dimensions \(7\)"
    with pytest.raises(LayerError, match=expected):
        compile_net(net, ["r"])
