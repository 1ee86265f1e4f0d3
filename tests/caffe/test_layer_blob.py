"""Layer.blob, the one weight reader: Caffe's Blob::ShapeEquals, for new and legacy blobs."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import LayerError


def layer(*blobs: np.ndarray, legacy: frozenset[int] = frozenset()) -> Layer:
    param = caffe_pb2.LayerParameter(name="ip", type="InnerProduct")
    return Layer("ip", "InnerProduct", ("x",), ("y",), param, blobs, legacy)


def test_a_blob_with_a_shape_must_have_exactly_the_expected_shape():
    bias = np.arange(3, dtype=np.float32)
    assert layer(bias).blob(0, (3,), "bias").tolist() == [0, 1, 2]
    # Caffe compares shapes, not counts: leading 1s in a shaped blob are a mismatch.
    with pytest.raises(LayerError, match=r"bias \(blob 0\) has shape \(1, 3\), expected \(3,\)"):
        layer(bias.reshape(1, 3)).blob(0, (3,), "bias")
    with pytest.raises(LayerError, match=r"has shape \(3,\), expected \(1, 3\)"):
        layer(bias).blob(0, (1, 3))


def test_a_legacy_blob_matches_when_the_shape_padded_to_4_axes_equals_its_dims():
    weights = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    legacy = layer(weights, legacy=frozenset({0}))
    assert legacy.blob(0, (2, 3), "weight").shape == (2, 3)
    assert legacy.blob(0, (1, 2, 3)).shape == (1, 2, 3)
    with pytest.raises(LayerError, match=r"weight \(blob 0\) has shape \(1, 1, 2, 3\)"):
        legacy.blob(0, (3, 2), "weight")
    with pytest.raises(LayerError, match=r"expected \(1, 1, 1, 2, 3\)"):
        legacy.blob(0, (1, 1, 1, 2, 3))  # more than 4 axes never match legacy dims


def test_a_missing_blob_is_named():
    with pytest.raises(LayerError, match=r"expected bias \(blob 1\) of shape \(3,\), but the layer"):
        layer(np.zeros((3, 2), np.float32)).blob(1, (3,), "bias")
