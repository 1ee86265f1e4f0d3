"""Dropout, Split, Silence and Parameter: blobs moved, not computed."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.compiler.compile import compile_net
from caffebatch.errors import LayerError
from caffebatch.runtime.scorer import Scorer
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, net, run, run_opencv

RNG = np.random.default_rng(3)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


def test_dropout_is_the_identity_at_test_time(tmp_path):
    drop = layer("out", "Dropout", ["data"], ["out"], dropout_param={"dropout_ratio": 0.7})
    np.testing.assert_array_equal(run([drop], {"data": X}, ["out"])["out"], X)
    np.testing.assert_array_equal(run_opencv([drop], {"data": X}, ["out"], tmp_path)["out"], X)


def test_dropout_in_place():
    relu = layer("relu", "ReLU", ["data"], ["data@relu"])
    drop = layer("drop", "Dropout", ["data@relu"], ["data@drop"])
    out = run([relu, drop], {"data": X}, ["data@drop"])["data@drop"]
    np.testing.assert_array_equal(out, np.maximum(X, 0))


def test_split_copies_to_every_top():
    split = layer("split", "Split", ["data"], ["s0", "s1", "s2"])
    out = run([split], {"data": X}, ["s0", "s1", "s2"])
    for name in ("s0", "s1", "s2"):
        np.testing.assert_array_equal(out[name], X)


def test_silence_consumes_and_produces_nothing():
    silence = layer("quiet", "Silence", ["data", "other"], [])
    relu = layer("relu", "ReLU", ["data"], ["relu"])
    out = run([silence, relu], {"data": X, "other": X[:, :1]}, ["relu"])
    assert list(out) == ["relu"]


def test_parameter_is_a_constant_that_ignores_the_batch_size():
    value = RNG.standard_normal((1, 3, 4, 5)).astype(np.float32)
    shape = {"dim": [1, 3, 4, 5]}
    param = layer("p", "Parameter", [], ["p"], blobs=[value], parameter_param={"shape": shape})
    add = layer("sum", "Eltwise", ["data", "p"], ["sum"])
    one = RNG.standard_normal((1, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(run([param, add], {"data": one}, ["sum"])["sum"], one + value)
    # as in Caffe, the parameter keeps its own first dimension at any batch size
    compiled = compile_net(net([param], {"data": (1, 3, 4, 5)}), ["p"])
    assert compiled.layers[0].tops[0].shape == (1, 3, 4, 5)
    scored = Scorer(compiled.onnx.SerializeToString(), threads=1)({"data": X})
    np.testing.assert_array_equal(scored["p"], value)


@pytest.mark.parametrize(
    ("blobs", "message"),
    [
        ([np.zeros((3, 4), np.float32)], r"blob 0 has shape \(3, 4\), expected \(2, 3\)"),
        ([], r"expected weight blob 0 of shape \(2, 3\)"),
    ],
)
def test_parameter_blob_must_match_its_shape(blobs, message):
    shape = {"dim": [2, 3]}
    param = layer("p", "Parameter", [], ["p"], blobs=blobs, parameter_param={"shape": shape})
    with pytest.raises(LayerError, match=message):
        run([param], {"data": X}, ["p"])


@pytest.mark.parametrize("model", ["zoo_act_dropout", "zoo_inplace_split"])
def test_matches_real_caffe(model):
    assert_matches_reference(model)
