"""Normalize against a numpy statement of normalize_layer.cpp, and OpenCV where it agrees.

OpenCV refuses one combination weiliu89/caffe computes: across_spatial with one scale
per channel (its NormalizeBBox asserts one scale per normalized plane).
"""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._ssd_reference import normalize as normalize_ref
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(29)
X = (RNG.standard_normal((3, 5, 4, 6)) * 3).astype(np.float32)
PER_CHANNEL = RNG.uniform(5, 25, 5).astype(np.float32)
SHARED = np.array([20.0], np.float32)


def _normalize(scale, **param):
    return layer("norm", "Normalize", ["data"], ["norm"], blobs=[scale], norm_param=param)


def _check(ours, expected):
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5 * scale)


CASES = [
    pytest.param(PER_CHANNEL, False, False, True, id="ssd_conv4_3"),
    pytest.param(SHARED, False, True, True, id="per_position_shared_scale"),
    pytest.param(SHARED, True, True, True, id="across_spatial_shared_scale"),
    pytest.param(PER_CHANNEL, True, False, False, id="across_spatial_per_channel"),
]


@pytest.mark.parametrize(("scale", "across", "shared", "opencv_agrees"), CASES)
def test_normalize_matches_caffe(scale, across, shared, opencv_agrees, tmp_path):
    norm = _normalize(scale, across_spatial=across, channel_shared=shared)
    ours = run([norm], {"data": X}, ["norm"])["norm"]
    _check(ours, normalize_ref(X, scale, across_spatial=across))
    if opencv_agrees:
        _check(ours, run_opencv([norm], {"data": X}, ["norm"], tmp_path)["norm"])


def test_normalize_eps_inside_the_root():
    zeros = np.zeros((1, 2, 3, 3), np.float32)
    zeros[0, :, 0, 0] = [3e-5, 4e-5]
    norm = _normalize(np.ones(2, np.float32), across_spatial=False, channel_shared=False, eps=1e-9)
    ours = run([norm], {"data": zeros}, ["norm"])["norm"]
    _check(ours, normalize_ref(zeros, np.ones(2), across_spatial=False, eps=1e-9))
    assert np.all(ours[0, :, 1:, :] == 0)  # 0 / sqrt(eps), not NaN


def test_normalize_two_axes():
    x = RNG.standard_normal((2, 7)).astype(np.float32)
    norm = _normalize(SHARED, across_spatial=True)
    _check(run([norm], {"data": x}, ["norm"])["norm"], normalize_ref(x, SHARED))


def test_normalize_refuses_a_scale_of_the_wrong_size():
    norm = _normalize(PER_CHANNEL[:3], across_spatial=False, channel_shared=False)
    with pytest.raises(LayerError, match=r"the scale \(blob 0\) holds 3 values, expected 5"):
        run([norm], {"data": X}, ["norm"])
