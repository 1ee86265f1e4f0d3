"""PriorBox against a numpy statement of prior_box_layer.cpp, and OpenCV where it agrees.

OpenCV differs from weiliu89/caffe in two places: it ignores img_size / img_h / img_w
(it always divides by the image bottom's size), and it keeps a fractional min_size or
max_size, which weiliu89's PriorBox truncates to an int.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from caffebatch.compiler.compile import compile_net
from caffebatch.compiler.layouts import SHARED
from caffebatch.errors import LayerError
from caffebatch.jobs.batches import Scored, results
from caffebatch.runtime.scorer import Scorer
from tests.compiler.converters._ssd_reference import prior_box as prior_box_ref
from tests.compiler.netbuilder import layer, net, run, run_opencv

FEATURE = np.zeros((1, 2, 3, 4), np.float32)
IMAGE = np.zeros((1, 3, 24, 36), np.float32)
VARIANCE = [0.1, 0.1, 0.2, 0.2]


def _prior_box(**param):
    return layer("pb", "PriorBox", ["feat", "img"], ["pb"], prior_box_param=param)


def _reference(param):
    pairs = {"img_size": "img_hw", "step": "step_hw"}
    kwargs = {
        "min_sizes": param["min_size"],
        "max_sizes": param.get("max_size", ()),
        "aspect_ratios": param.get("aspect_ratio", ()),
        "flip": param.get("flip", True),
        "clip": param.get("clip", False),
        "variances": param.get("variance", (0.1,)),
        "offset": param.get("offset", 0.5),
    }
    for single, pair in pairs.items():
        if single in param:
            kwargs[pair] = (param[single],) * 2
    if "img_h" in param:
        kwargs["img_hw"] = (param["img_h"], param["img_w"])
    if "step_h" in param:
        kwargs["step_hw"] = (param["step_h"], param["step_w"])
    return prior_box_ref((3, 4), (24, 36), **kwargs)


# (prior_box_param, whether OpenCV computes the same)
CASES = [
    pytest.param({"min_size": [6]}, True, id="min_size_only"),
    pytest.param({"min_size": [6], "aspect_ratio": [2, 3]}, True, id="flip"),
    pytest.param({"min_size": [6], "aspect_ratio": [2], "flip": False}, True, id="no_flip"),
    pytest.param({"min_size": [6], "aspect_ratio": [2, 2, 0.5]}, True, id="repeated_ratios"),
    pytest.param({"min_size": [6], "max_size": [14], "aspect_ratio": [2]}, True, id="max_size"),
    pytest.param(
        {"min_size": [4, 8], "max_size": [6, 12], "aspect_ratio": [2]},
        True,
        id="two_min_and_max_sizes",
    ),
    pytest.param({"min_size": [20], "aspect_ratio": [3], "clip": True}, True, id="clip"),
    pytest.param({"min_size": [6], "step": 5.0}, True, id="step"),
    pytest.param({"min_size": [6], "step_h": 4.0, "step_w": 7.0}, True, id="step_h_w"),
    pytest.param({"min_size": [6], "step": 8.0, "offset": 0.0}, True, id="offset"),
    pytest.param({"min_size": [6], "variance": [0.3]}, True, id="one_variance"),
    pytest.param({"min_size": [6], "img_size": 40}, False, id="img_size"),
    pytest.param({"min_size": [6], "img_h": 30, "img_w": 50}, False, id="img_h_w"),
    pytest.param({"min_size": [6.5], "max_size": [9.7]}, False, id="fractional_sizes"),
]


@pytest.mark.parametrize(("param", "opencv_agrees"), CASES)
def test_prior_box_matches_caffe(param, opencv_agrees, tmp_path):
    full = {"flip": True, "clip": False, "variance": VARIANCE, **param}  # OpenCV wants them set
    pb = _prior_box(**full)
    ours = run([pb], {"feat": FEATURE, "img": IMAGE}, ["pb"])["pb"]
    expected = _reference(full)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)
    opencv = run_opencv([pb], {"feat": FEATURE, "img": IMAGE}, ["pb"], tmp_path)["pb"]
    assert np.allclose(ours, opencv, rtol=1e-4, atol=1e-5) == opencv_agrees


def test_default_variance_is_one_tenth():
    ours = run([_prior_box(min_size=[6])], {"feat": FEATURE, "img": IMAGE}, ["pb"])["pb"]
    np.testing.assert_allclose(ours[0, 1], 0.1)


def test_priors_are_shared_by_the_batch():
    compiled = compile_net(
        net(
            [_prior_box(min_size=[6], max_size=[10])], {"feat": (2, 2, 3, 4), "img": (2, 3, 24, 36)}
        ),
        ["pb"],
    )
    assert compiled.output_layouts == {"pb": SHARED}
    assert [d.dim_value for d in compiled.onnx.graph.output[0].type.tensor_type.shape.dim] == [
        1,
        2,
        3 * 4 * 2 * 4,
    ]
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    feeds = {
        "feat": np.zeros((3, 2, 3, 4), np.float32),
        "img": np.zeros((3, 3, 24, 36), np.float32),
    }
    priors = scorer(feeds)["pb"]
    assert priors.shape == (1, 2, 96)
    split = dict(results(Scored(("a", "b", "c"), {"pb": priors}, scorer.layouts)))
    assert list(split) == ["a", "b", "c"]
    for key, value in split.items():  # each record: the [2, 96] blob of boxes and variances
        np.testing.assert_array_equal(
            np.asarray(orjson.loads(value)[key]["pb"], np.float32), priors[0]
        )


@pytest.mark.parametrize(
    ("param", "reason"),
    [
        pytest.param({}, "min_size is required", id="no_min_size"),
        pytest.param(
            {"min_size": [6], "max_size": [5]}, "greater than its min_size", id="max_not_above_min"
        ),
        pytest.param(
            {"min_size": [6, 8], "max_size": [9]}, "one max_size per min_size", id="max_count"
        ),
        pytest.param(
            {"min_size": [6], "variance": [0.1, 0.2]}, "1 or 4 values", id="two_variances"
        ),
        pytest.param(
            {"min_size": [6], "step": 4.0, "step_h": 4.0, "step_w": 4.0},
            "either prior_box_param.step or step_h/step_w",
            id="step_twice",
        ),
        pytest.param(
            {"min_size": [6], "img_size": 30, "img_h": 30, "img_w": 30},
            "either prior_box_param.img_size or img_h/img_w",
            id="img_twice",
        ),
    ],
)
def test_prior_box_refuses_what_caffe_refuses(param, reason):
    with pytest.raises(LayerError, match=reason):
        run([_prior_box(**param)], {"feat": FEATURE, "img": IMAGE}, ["pb"])
