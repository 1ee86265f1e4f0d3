"""Power, Exp and Log against numpy statements of Caffe's forward passes, and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.compiler.compile import compile_net
from caffebatch.errors import LayerError
from caffebatch.runtime.scorer import Scorer
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, net, run, run_opencv

RNG = np.random.default_rng(11)
X = (RNG.standard_normal((2, 3, 5, 3)) * 3).astype(np.float32)
POSITIVE = RNG.uniform(0.05, 5, (2, 3, 5, 3)).astype(np.float32)
f32 = np.float32


def run_one(layer_type: str, x: np.ndarray, **params) -> np.ndarray:
    return run([layer("out", layer_type, ["data"], ["out"], **params)], {"data": x}, ["out"])["out"]


@pytest.mark.parametrize(
    ("power", "scale", "shift"),
    [(2, 0.5, 1), (3, -1, 0.2), (1, 2, -1), (1, 1, 0), (-1, 1, 10), (2.5, 1, 0)],
)
def test_power(power, scale, shift):
    x = np.abs(X) if power % 1 else X
    out = run_one("Power", x, power_param={"power": power, "scale": scale, "shift": shift})
    expected = np.power(f32(shift) + f32(scale) * x, f32(power))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "value"),
    [({"power": 2, "scale": 0, "shift": 3}, 9.0), ({"power": 0, "scale": 4, "shift": -2}, 1.0)],
    ids=["scale_0_gives_shift_to_power", "power_0_gives_1"],
)
def test_power_ignores_input_when_caffe_does(params, value):
    x = X.copy()
    x[0, 0, 0, 0] = np.inf  # Caffe never reads the input here, so inf changes nothing
    out = run_one("Power", x, power_param=params)
    np.testing.assert_array_equal(out, np.full(X.shape, value, np.float32))


def test_power_of_negative_base_is_nan_like_caffe():
    out = run_one("Power", np.array([[-4.0, 4.0]], np.float32), power_param={"power": 0.5})
    assert np.isnan(out[0, 0]) and out[0, 1] == 2.0


@pytest.mark.parametrize(
    ("base", "scale", "shift"), [(-1, 1, 0), (2, 1, 0), (2, 0.5, 1.5), (-1, -0.3, 2), (10, 1, -1)]
)
def test_exp(base, scale, shift):
    out = run_one("Exp", X, exp_param={"base": base, "scale": scale, "shift": shift})
    b = np.e if base == -1 else base
    expected = np.power(b, f32(shift) + f32(scale) * X.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=2e-6)


@pytest.mark.parametrize(
    ("base", "scale", "shift"), [(-1, 1, 0), (2, 1, 0), (10, 2, 0.5), (-1, 0.5, 1), (3, 1, 0.1)]
)
def test_log(base, scale, shift):
    out = run_one("Log", POSITIVE, log_param={"base": base, "scale": scale, "shift": shift})
    natural = np.log(f32(shift) + f32(scale) * POSITIVE.astype(np.float64))
    expected = natural if base == -1 else natural / np.log(base)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("layer_type", "params"),
    [
        ("Power", {"power_param": {"power": 2, "scale": 0.5, "shift": 1}}),
        ("Power", {"power_param": {"power": 2, "scale": 0, "shift": 3}}),
        ("Exp", {"exp_param": {"base": 2, "scale": 0.5, "shift": 1}}),
        ("Log", {}),  # OpenCV ignores Log's base, scale and shift, so only the default
    ],
)
def test_agrees_with_opencv(layer_type, params, tmp_path):
    layers = [layer("out", layer_type, ["data"], ["out"], **params)]
    x = POSITIVE if layer_type == "Log" else X
    ours = run(layers, {"data": x}, ["out"])["out"]
    opencv = run_opencv(layers, {"data": x}, ["out"], tmp_path)["out"]
    np.testing.assert_allclose(ours, opencv, rtol=1e-5, atol=1e-6)


def test_constant_case_follows_the_batch_size():
    power = layer("out", "Power", ["data"], ["out"], power_param={"scale": 0, "shift": 2})
    compiled = compile_net(net([power], {"data": (1, *X.shape[1:])}), ["out"])
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    for batch in (1, 5):
        out = scorer({"data": X[:1].repeat(batch, 0)})["out"]
        np.testing.assert_array_equal(out, np.full((batch, *X.shape[1:]), 2.0, np.float32))


@pytest.mark.parametrize(
    ("layer_type", "params", "field"),
    [
        ("Exp", {"exp_param": {"base": 0}}, "exp_param.base"),
        ("Log", {"log_param": {"base": -2}}, "log_param.base"),
    ],
)
def test_refuses_non_positive_base(layer_type, params, field):
    with pytest.raises(LayerError, match=f"{field} must be strictly positive, or -1 for e; got"):
        run_one(layer_type, POSITIVE, **params)


@pytest.mark.parametrize("model", ["zoo_power", "zoo_act_exp", "zoo_act_log"])
def test_matches_real_caffe(model):
    assert_matches_reference(model)
