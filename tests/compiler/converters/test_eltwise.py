"""Eltwise against numpy statements of Caffe's SUM, PROD and MAX, and against OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.caffe.net import build_net
from caffebatch.caffe.read import read_prototxt
from caffebatch.compiler.compile import compile_net
from caffebatch.errors import LayerError
from tests.compiler.converters._reference import REFERENCE, assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(5)
SHAPE = (2, 3, 5, 7)
A, B, C = (RNG.standard_normal(SHAPE).astype(np.float32) for _ in range(3))
INPUTS = {"a": A, "b": B, "c": C}


def eltwise(bottoms, **param):
    return layer("out", "Eltwise", bottoms, ["out"], eltwise_param=param)


CASES = [
    pytest.param(["a", "b", "c"], {}, A + B + C, id="sum_default"),
    pytest.param(["a", "b"], {"coeff": [0.5, -2]}, 0.5 * A - 2 * B, id="sum_coeff"),
    pytest.param(["a", "b", "c"], {"coeff": [1, -1, 3]}, A - B + 3 * C, id="sum_coeff_3"),
    pytest.param(["a", "b", "c"], {"operation": "PROD"}, A * B * C, id="prod"),
    pytest.param(["a", "b"], {"operation": "MAX"}, np.maximum(A, B), id="max"),
    pytest.param(["a", "b", "c"], {"operation": "MAX"}, np.max([A, B, C], 0), id="max_3"),
    pytest.param(
        ["a", "b"], {"operation": "MAX", "coeff": [2, 3]}, np.maximum(A, B), id="max_ignores_coeff"
    ),
    pytest.param(["a", "a"], {"operation": "PROD"}, A * A, id="same_blob_twice"),
]


@pytest.mark.parametrize(("bottoms", "param", "expected"), CASES)
def test_matches_caffe(bottoms, param, expected):
    out = run([eltwise(bottoms, **param)], INPUTS, ["out"])["out"]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("bottoms", "param", "expected"), CASES[:6])
def test_agrees_with_opencv(bottoms, param, expected, tmp_path):
    inputs = {name: INPUTS[name] for name in dict.fromkeys(bottoms)}
    ours = run([eltwise(bottoms, **param)], inputs, ["out"])["out"]
    opencv = run_opencv([eltwise(bottoms, **param)], inputs, ["out"], tmp_path)["out"]
    np.testing.assert_allclose(ours, opencv, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("bottoms", "param", "message"),
    [
        (["a", "b", "c"], {"coeff": [1, 2]}, "one coeff per bottom: 3 bottoms, 2 coeffs"),
        (["a", "b"], {"operation": "PROD", "coeff": [1, 2]}, "coeff is only for operation SUM"),
        (["a"], {}, "at least 2 bottom blob"),
    ],
)
def test_refuses_invalid_parameters(bottoms, param, message):
    with pytest.raises(LayerError, match=message):
        run([eltwise(bottoms, **param)], INPUTS, ["out"])


def test_refuses_different_shapes_like_caffe():
    # Caffe checks bottom[0]->shape() == bottom[i]->shape(), the batch axis included
    inputs = {"a": np.zeros((1, 3, 4, 5), np.float32), "b": np.zeros((2, 3, 4, 5), np.float32)}
    with pytest.raises(LayerError, match=r"shape: 'a' is \(1, 3, 4, 5\), 'b' is \(2, 3, 4, 5\)"):
        run([eltwise(["a", "b"])], inputs, ["out"])


def test_matches_real_caffe():
    assert_matches_reference("zoo_eltwise")


def test_refuses_what_real_caffe_refuses():
    # Caffe's own message is in tests/reference/invalid/eltwise_shape_mismatch/caffe_error.txt
    folder = REFERENCE / "invalid" / "eltwise_shape_mismatch"
    net = build_net(read_prototxt(folder / "deploy.prototxt"))
    with pytest.raises(LayerError, match=r"'a' is \(1, 3, 4, 5\), 'b' is \(1, 3, 4, 1\)"):
        compile_net(net, ["sum"])
