"""Permute against numpy's transpose (permute_layer.cpp's order rule) and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.netbuilder import layer, run, run_opencv

RNG = np.random.default_rng(23)
X = RNG.standard_normal((3, 4, 5, 6)).astype(np.float32)


# OpenCV refuses an order that leaves axes out, which weiliu89/caffe completes
@pytest.mark.parametrize(
    ("order", "axes", "opencv_agrees"),
    [
        pytest.param([0, 2, 3, 1], (0, 2, 3, 1), True, id="ssd_head"),
        pytest.param([0, 3], (0, 3, 1, 2), False, id="unlisted_axes_follow_in_order"),
        pytest.param([0, 1, 3, 2], (0, 1, 3, 2), True, id="swap_last_two"),
        pytest.param([0, 1, 2, 3], (0, 1, 2, 3), True, id="same_order_keeps_the_blob"),
    ],
)
def test_permute_matches_transpose_and_opencv(order, axes, opencv_agrees, tmp_path):
    permute = layer("out", "Permute", ["data"], ["out"], permute_param={"order": order})
    ours = run([permute], {"data": X}, ["out"])["out"]
    np.testing.assert_array_equal(ours, X.transpose(axes))
    if opencv_agrees:
        opencv = run_opencv([permute], {"data": X}, ["out"], tmp_path)["out"]
        np.testing.assert_array_equal(ours, opencv.reshape(ours.shape))


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        pytest.param([0, 4], "order 4 is not an axis of a 4-D input", id="out_of_range"),
        pytest.param([0, 2, 2], "lists axis 2 twice", id="duplicate"),
        pytest.param([1, 0, 2, 3], "the batch axis", id="moves_the_batch_axis"),
    ],
)
def test_permute_refuses_what_caffe_refuses_or_mixes_records(order, reason):
    permute = layer("out", "Permute", ["data"], ["out"], permute_param={"order": order})
    with pytest.raises(LayerError, match=reason):
        run([permute], {"data": X}, ["out"])
