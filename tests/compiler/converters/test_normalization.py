"""LRN, MVN and BatchNorm against numpy statements of Caffe's formulas, and OpenCV where right."""

from __future__ import annotations

import re

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(13)
X = (RNG.standard_normal((2, 7, 6, 5)) * 10).astype(np.float32)


def lrn_across_ref(x, n, alpha, beta, k):
    """scale = k + alpha/n * sum of x^2 over the n channels centred on c (zero padded)."""
    x = x.astype(np.float64)
    half = (n - 1) // 2
    padded = np.pad(x**2, [(0, 0), (half, half), (0, 0), (0, 0)])
    window = sum(padded[:, i : i + x.shape[1]] for i in range(n))
    return x / (k + alpha / n * window) ** beta


def lrn_within_ref(x, n, alpha, beta):
    """Caffe's chain: square, AVE pool (pad (n-1)/2, divisor n*n), power(alpha, 1), product."""
    x = x.astype(np.float64)
    half = (n - 1) // 2
    padded = np.pad(x**2, [(0, 0), (0, 0), (half, half), (half, half)])
    h, w = x.shape[2:]
    window = sum(padded[:, :, i : i + h, j : j + w] for i in range(n) for j in range(n))
    return x * (1 + alpha * window / (n * n)) ** -beta


# (id, lrn_param)
ACROSS = [
    ("alexnet", {"local_size": 5, "alpha": 1e-4, "beta": 0.75}),
    ("k_and_big_alpha", {"local_size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}),
    ("beta_half", {"local_size": 5, "alpha": 0.1, "beta": 0.5, "k": 1.5}),
    ("beta_one", {"local_size": 1, "alpha": 0.2, "beta": 1.0}),
    ("beta_other", {"local_size": 7, "alpha": 0.3, "beta": 0.6, "k": 0.7}),
    ("window_wider_than_channels", {"local_size": 9, "alpha": 0.3, "beta": 0.75}),
]


@pytest.mark.parametrize("case", ACROSS, ids=[c[0] for c in ACROSS])
def test_lrn_across_channels(case):
    _, param = case
    y = run([layer("lrn", "LRN", ["data"], ["lrn"], lrn_param=param)], {"data": X}, ["lrn"])["lrn"]
    expected = lrn_across_ref(
        X, param["local_size"], param["alpha"], param["beta"], param.get("k", 1.0)
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_lrn_agrees_with_opencv_when_k_is_one(tmp_path):
    lrn = layer(
        "lrn", "LRN", ["data"], ["lrn"], lrn_param={"local_size": 5, "alpha": 0.3, "beta": 0.75}
    )
    ours = run([lrn], {"data": X}, ["lrn"])["lrn"]
    theirs = run_opencv([lrn], {"data": X}, ["lrn"], tmp_path)["lrn"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


@pytest.mark.parametrize(
    "n, alpha, beta, k", [(3, 0.2, 0.75, 1.0), (5, 1.0, 0.5, 3.0), (1, 0.4, 0.9, 1.0)]
)
def test_lrn_within_channel_ignores_k(n, alpha, beta, k):
    param = {"local_size": n, "alpha": alpha, "beta": beta, "k": k, "norm_region": "WITHIN_CHANNEL"}
    y = run([layer("lrn", "LRN", ["data"], ["lrn"], lrn_param=param)], {"data": X}, ["lrn"])["lrn"]
    expected = lrn_within_ref(X, n, alpha, beta)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def mvn_ref(x, normalize_variance=True, across_channels=False, eps=1e-9):
    x = x.astype(np.float64)
    axes = tuple(range(1 if across_channels else 2, x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    if not normalize_variance:
        return centred
    # Caffe: eps is added to the standard deviation
    return centred / (np.sqrt((centred**2).mean(axis=axes, keepdims=True)) + eps)


@pytest.mark.parametrize("eps", [1e-9, 0.5])
@pytest.mark.parametrize("across_channels", [False, True], ids=["per_channel", "across"])
@pytest.mark.parametrize("normalize_variance", [True, False], ids=["variance", "mean_only"])
def test_mvn(normalize_variance, across_channels, eps):
    param = {
        "normalize_variance": normalize_variance,
        "across_channels": across_channels,
        "eps": eps,
    }
    y = run([layer("mvn", "MVN", ["data"], ["mvn"], mvn_param=param)], {"data": X}, ["mvn"])["mvn"]
    np.testing.assert_allclose(
        y, mvn_ref(X, normalize_variance, across_channels, eps), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("across_channels", [False, True])
def test_mvn_of_a_two_axis_input(across_channels):
    x = X.reshape(2, -1)
    mvn = layer("mvn", "MVN", ["data"], ["mvn"], mvn_param={"across_channels": across_channels})
    y = run([mvn], {"data": x}, ["mvn"])["mvn"]
    np.testing.assert_allclose(y, mvn_ref(x, True, across_channels), rtol=1e-4, atol=1e-5)


def test_mvn_mean_only_agrees_with_opencv(tmp_path):
    mvn = layer("mvn", "MVN", ["data"], ["mvn"], mvn_param={"normalize_variance": False})
    ours = run([mvn], {"data": X}, ["mvn"])["mvn"]
    theirs = run_opencv([mvn], {"data": X}, ["mvn"], tmp_path)["mvn"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


def batch_norm_blobs(channels, factor):
    mean = RNG.standard_normal(channels).astype(np.float32)
    variance = RNG.uniform(0.5, 2, channels).astype(np.float32)
    return [mean * factor, variance * factor, np.array([factor], np.float32)], mean, variance


@pytest.mark.parametrize("factor, eps", [(37.5, 1e-3), (1.0, 1e-5), (0.999, 0.1)])
def test_batch_norm_divides_the_statistics_by_the_factor(factor, eps):
    blobs, mean, variance = batch_norm_blobs(7, factor)
    bn = layer("bn", "BatchNorm", ["data"], ["bn"], blobs=blobs, batch_norm_param={"eps": eps})
    y = run([bn], {"data": X}, ["bn"])["bn"]
    expected = (X - mean.reshape(1, -1, 1, 1)) / np.sqrt(variance.reshape(1, -1, 1, 1) + eps)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_batch_norm_with_a_zero_factor_uses_zero_statistics():
    blobs, _, _ = batch_norm_blobs(7, 0.0)
    blobs[0][:] = 5  # Caffe multiplies by 0 instead of dividing by 0
    bn = layer(
        "bn",
        "BatchNorm",
        ["data"],
        ["bn"],
        blobs=blobs,
        batch_norm_param={"use_global_stats": True},
    )
    y = run([bn], {"data": X}, ["bn"])["bn"]
    np.testing.assert_allclose(y, X / np.sqrt(np.float32(1e-5)), rtol=1e-5)


def test_batch_norm_of_a_two_axis_input_agrees_with_opencv(tmp_path):
    x = X.reshape(2, 7, -1)[:, :, 0]
    blobs, _, _ = batch_norm_blobs(7, 2.0)
    bn = layer("bn", "BatchNorm", ["data"], ["bn"], blobs=blobs)
    ours = run([bn], {"data": x}, ["bn"])["bn"]
    theirs = run_opencv([bn], {"data": x}, ["bn"], tmp_path)["bn"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


# (id, type, params, blobs, message fragment)
REFUSALS = [
    ("lrn_even_size", "LRN", {"lrn_param": {"local_size": 4}}, [], "local_size must be odd"),
    ("mvn_five_axes", "MVN", {}, [], "at most 4 axes"),
    (
        "bn_batch_statistics",
        "BatchNorm",
        {"batch_norm_param": {"use_global_stats": False}},
        [],
        "ties the records",
    ),
    (
        "bn_wrong_mean",
        "BatchNorm",
        {},
        [np.zeros(6), np.zeros(7), np.ones(1)],
        "mean (blob 0) has shape (6,)",
    ),
    ("bn_no_factor", "BatchNorm", {}, [np.zeros(7), np.zeros(7)], "moving-average factor (blob 2"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refuses(case):
    _, kind, params, blobs, message = case
    x = X.reshape(2, 7, 6, 5, 1) if kind == "MVN" else X
    with pytest.raises(LayerError, match=re.escape(message)):
        run([layer("y", kind, ["data"], ["y"], blobs=blobs, **params)], {"data": x}, ["y"])


@pytest.mark.parametrize("model", ["zoo_lrn_across_channels", "zoo_lrn_alexnet_params"])
def test_reference_models_match_caffe(model):
    assert_matches_reference(model)


def test_batch_norm_reference_model_matches_caffe():
    # bn1 is rewritten in place by the Scale layer scale1; Caffe's blob bn1 is that result
    assert_matches_reference("zoo_batchnorm_scale", {"scale1": "bn1", "bn2": "bn2"})
