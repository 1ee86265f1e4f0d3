"""BN, caffe-segnet's (scale, shift) and hszhao/PSPNet's (slope, bias, mean, variance), against
numpy statements of the forks' bn_layer.cpp. OpenCV 4.x has neither."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.netbuilder import layer, run

RNG = np.random.default_rng(29)
SHAPE = (2, 3, 4, 5)


def channel(values):
    return np.asarray(values, np.float32).reshape(1, -1, 1, 1)


def pspnet_ref(x, slope, bias, mean, variance, eps):
    """hszhao/PSPNet BNLayer::Forward_cpu at TEST: x_norm = (x - mean) / sqrt(var + eps)."""
    return slope * (x - mean) / np.sqrt(variance.astype(np.float64) + eps) + bias


def segnet_inference_ref(x, scale, shift):
    """caffe-segnet BNLayer::Forward_cpu, bn_mode INFERENCE: top = scale * bottom + shift."""
    return scale * x.astype(np.float64) + shift


def segnet_learn_ref(x, scale, shift):
    """bn_mode LEARN: the batch's statistics, var = E(x^2) - E(x)^2, var_eps_ = 1e-9; per record
    (a batch of one) as our contract asks."""
    x = x.astype(np.float64)
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = (x**2).mean(axis=(2, 3), keepdims=True) - mean**2
    return scale * (x - mean) / np.sqrt(var + 1e-9) + shift


def bn_layer(blobs, **bn_param):
    return layer("bn", "BN", ["data"], ["bn"], blobs=blobs, bn_param=bn_param)


@pytest.mark.parametrize("eps", [None, 1e-3, 0.5])
def test_pspnet_bn_normalizes_by_stored_statistics_with_its_eps(eps):
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    slope, bias, mean = (channel(RNG.standard_normal(3)) for _ in range(3))
    variance = channel(RNG.uniform(0.01, 2, 3))
    param = {} if eps is None else {"eps": eps}
    y = run([bn_layer([slope, bias, mean, variance], **param)], {"data": x}, ["bn"])["bn"]
    expected = pspnet_ref(x, slope, bias, mean, variance, 1e-5 if eps is None else eps)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_segnet_bn_inference_is_scale_and_shift():
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    scale, shift = channel(RNG.uniform(0.5, 2, 3)), channel(RNG.standard_normal(3))
    y = run([bn_layer([scale, shift], bn_mode="INFERENCE")], {"data": x}, ["bn"])["bn"]
    np.testing.assert_allclose(y, segnet_inference_ref(x, scale, shift), rtol=1e-6, atol=1e-6)


def test_segnet_bn_learn_normalizes_each_record_by_its_own_statistics():
    x = (RNG.standard_normal(SHAPE) * 3 + 1).astype(np.float32)
    scale, shift = channel(RNG.uniform(0.5, 2, 3)), channel(RNG.standard_normal(3))
    y = run([bn_layer([scale, shift])], {"data": x}, ["bn"])["bn"]  # LEARN is the default
    np.testing.assert_allclose(y, segnet_learn_ref(x, scale, shift), rtol=1e-4, atol=1e-5)
    alone = run([bn_layer([scale, shift])], {"data": x[1:]}, ["bn"])["bn"]
    np.testing.assert_allclose(alone, y[1:], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("count", [1, 3, 5])
def test_bn_refuses_a_blob_count_of_neither_fork(count):
    blobs = [channel(np.ones(3))] * count
    with pytest.raises(LayerError, match=f"hold {count} blob") as error:
        run([bn_layer(blobs)], {"data": np.zeros(SHAPE, np.float32)}, ["bn"])
    assert error.value.layer == "bn"
