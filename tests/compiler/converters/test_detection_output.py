"""DetectionOutput against a numpy statement of detection_output_layer.cpp and bbox_util.cpp.

OpenCV agrees on the set of detections where it implements the same thing (CORNER and
CENTER_SIZE, eta 1), but lays them out differently: it sorts an image's rows by score
across labels (Caffe: by label, then score) and pads the blob with zero rows to
keep_top_k per image; it ignores eta, has no CORNER_SIZE, and its confidence_threshold
defaults to 0 (Caffe's: none). With variance_encoded_in_target it wants priors without
variances, where Caffe takes PriorBox's blob as it is. So OpenCV's rows are compared as a
set, where it runs the net.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from caffebatch.compiler.compile import compile_net
from caffebatch.compiler.layouts import ROWS
from caffebatch.errors import LayerError
from caffebatch.jobs.batches import Scored, results
from caffebatch.runtime.scorer import Scorer
from tests.compiler.converters import _ssd_reference as ref
from tests.compiler.netbuilder import layer, net, run, run_opencv

RNG = np.random.default_rng(31)
FEATURE, IMAGE = (3, 3), (30, 30)
PRIOR_PARAM = {
    "min_size": [6],
    "max_size": [14],
    "aspect_ratio": [2],
    "flip": True,
    "clip": False,
    "variance": [0.1, 0.1, 0.2, 0.2],
}
PRIORS = FEATURE[0] * FEATURE[1] * 4
CLASSES = 4
CODES = {"CORNER": 1, "CENTER_SIZE": 2, "CORNER_SIZE": 3}


def _layers(**param):
    full = {
        "num_classes": CLASSES,
        "share_location": True,
        "background_label_id": 0,
        "code_type": CODES["CENTER_SIZE"],
        **param,
    }
    return [
        layer("pb", "PriorBox", ["feat", "img"], ["pb"], prior_box_param=PRIOR_PARAM),
        layer(
            "det", "DetectionOutput", ["loc", "conf", "pb"], ["det"], detection_output_param=full
        ),
    ]


def _feeds(batch, loc_classes=1, loc_scale=0.5, conf=None):
    return {
        "loc": (RNG.standard_normal((batch, PRIORS * loc_classes * 4)) * loc_scale).astype(
            np.float32
        ),
        "conf": RNG.random((batch, PRIORS * CLASSES)).astype(np.float32) if conf is None else conf,
        "feat": np.zeros((batch, 2, *FEATURE), np.float32),
        "img": np.zeros((batch, 3, *IMAGE), np.float32),
    }


def _priors():
    return ref.prior_box(FEATURE, IMAGE, [6], [14], [2], variances=(0.1, 0.1, 0.2, 0.2))


def _expected(feeds, **param):
    nms = param.get("nms_param", {})
    return ref.detection_output(
        feeds["loc"],
        feeds["conf"],
        _priors(),
        CLASSES,
        share_location=param.get("share_location", True),
        background=param.get("background_label_id", 0),
        nms_threshold=nms.get("nms_threshold", 0.3),
        top_k=nms.get("top_k", -1),
        eta=nms.get("eta", 1.0),
        keep_top_k=param.get("keep_top_k", -1),
        confidence_threshold=param.get("confidence_threshold"),
        code={v: k for k, v in CODES.items()}[param.get("code_type", CODES["CENTER_SIZE"])],
        encoded=param.get("variance_encoded_in_target", False),
        clip=param.get("clip", False),
    )


def _detect(feeds, **param):
    return run(_layers(**param), feeds, ["det"])["det"]


def _assert_rows(ours, expected):
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)


def _as_set(rows):
    rows = rows.reshape(-1, 7)
    rows = rows[rows[:, 1] >= 0]  # Caffe's rows for no detection have label -1
    rows = rows[rows[:, 2] > 0]  # OpenCV's padding rows are zeros
    return rows[np.lexsort(rows.T[::-1])]


NMS = {"nms_threshold": 0.45, "top_k": 20}
CASES = [
    pytest.param(
        {"nms_param": NMS, "confidence_threshold": 0.3, "keep_top_k": 50}, True, id="ssd_defaults"
    ),
    pytest.param(
        {
            "nms_param": NMS,
            "confidence_threshold": 0.3,
            "keep_top_k": 50,
            "code_type": CODES["CORNER"],
        },
        True,
        id="corner",
    ),
    pytest.param(
        {
            "nms_param": NMS,
            "confidence_threshold": 0.3,
            "keep_top_k": 50,
            "code_type": CODES["CORNER_SIZE"],
        },
        False,
        id="corner_size",
    ),
    pytest.param(
        {
            "nms_param": NMS,
            "confidence_threshold": 0.3,
            "keep_top_k": 50,
            "variance_encoded_in_target": True,
        },
        False,
        id="variance_encoded_in_target",
    ),
    pytest.param(
        {"nms_param": NMS, "confidence_threshold": 0.3, "keep_top_k": 50, "share_location": False},
        True,
        id="a_box_per_class",
    ),
    pytest.param(
        {
            "nms_param": NMS,
            "confidence_threshold": 0.3,
            "keep_top_k": 80,
            "share_location": False,
            "background_label_id": -1,
        },
        True,
        id="no_background_class",
    ),
    pytest.param(
        {"nms_param": {"nms_threshold": 0.45}, "keep_top_k": 500}, False, id="no_threshold_no_top_k"
    ),
    pytest.param(
        {"nms_param": NMS, "confidence_threshold": 0.3, "keep_top_k": 50, "clip": True},
        True,
        id="clip_opencv_extension",
    ),
]


@pytest.mark.parametrize(("param", "opencv_agrees"), CASES)
def test_detection_output_matches_caffe(param, opencv_agrees, tmp_path):
    loc_classes = 1 if param.get("share_location", True) else CLASSES
    feeds = _feeds(3, loc_classes)
    ours = _detect(feeds, **param)
    _assert_rows(ours, _expected(feeds, **param))
    if opencv_agrees:
        opencv = run_opencv(_layers(**param), feeds, ["det"], tmp_path)["det"]
        np.testing.assert_allclose(_as_set(ours), _as_set(opencv), rtol=1e-4, atol=1e-5)


def test_rows_come_by_record_then_label_then_score():
    feeds = _feeds(2)
    rows = _detect(feeds, nms_param=NMS, confidence_threshold=0.3).reshape(-1, 7)
    assert len(rows) > 10 and set(rows[:, 0]) == {0, 1}
    order = np.lexsort((-rows[:, 2], rows[:, 1], rows[:, 0]))
    np.testing.assert_array_equal(order, np.arange(len(rows)))


def test_equal_scores_keep_the_lower_prior_first():
    # Every box is its prior (no offsets) and every score is the same: Caffe's stable sort
    # puts the lower prior index first, so prior 0 wins over the priors it overlaps.
    conf = np.full((1, PRIORS * CLASSES), 0.5, np.float32)
    feeds = _feeds(1, loc_scale=0.0, conf=conf)
    param = {"nms_param": {"nms_threshold": 0.3}, "confidence_threshold": 0.1}
    ours = _detect(feeds, **param)
    _assert_rows(ours, _expected(feeds, **param))
    first = ours[0, 0, 0]
    np.testing.assert_allclose(first[3:], _priors()[0, 0, :4], atol=1e-6)


def test_eta_shrinks_the_threshold_after_each_kept_box():
    feeds = _feeds(2, loc_scale=0.3)
    common = {"confidence_threshold": 0.2}
    adaptive = {"nms_param": {"nms_threshold": 0.7, "eta": 0.8}, **common}
    ours = _detect(feeds, **adaptive)
    _assert_rows(ours, _expected(feeds, **adaptive))
    fixed = _detect(feeds, nms_param={"nms_threshold": 0.7}, **common)
    assert ours.shape[2] < fixed.shape[2]  # the smaller threshold suppresses more


def test_keep_top_k_cuts_each_record_to_its_best():
    feeds = _feeds(3)
    param = {"nms_param": NMS, "confidence_threshold": 0.05, "keep_top_k": 7}
    ours = _detect(feeds, **param)
    _assert_rows(ours, _expected(feeds, **param))
    rows = ours.reshape(-1, 7)
    assert [int((rows[:, 0] == i).sum()) for i in range(3)] == [7, 7, 7]
    uncut = _detect(feeds, **{**param, "keep_top_k": -1}).reshape(-1, 7)
    for record in range(3):
        best = np.sort(uncut[uncut[:, 0] == record, 2])[::-1][:7]
        np.testing.assert_array_equal(np.sort(rows[rows[:, 0] == record, 2])[::-1], best)


def test_no_detection_gives_caffes_row_per_record():
    feeds = _feeds(3)
    ours = _detect(feeds, nms_param=NMS, confidence_threshold=1.5)
    expected = np.array([[i, -1, -1, -1, -1, -1, -1] for i in range(3)], np.float32)
    np.testing.assert_array_equal(ours, expected.reshape(1, 1, 3, 7))


def _compiled(**param):
    shapes = {
        "loc": (2, PRIORS * 4),
        "conf": (2, PRIORS * CLASSES),
        "feat": (2, 2, *FEATURE),
        "img": (2, 3, *IMAGE),
    }
    return compile_net(net(_layers(**param), shapes), ["det"])


def test_records_get_their_own_rows_whatever_shares_their_batch():
    param = {"nms_param": NMS, "confidence_threshold": 0.6, "keep_top_k": 30}
    compiled = _compiled(**param)
    assert compiled.output_layouts == {"det": ROWS}
    dims = compiled.onnx.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in dims] == [1, 1, "detections", 7]
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    conf = RNG.random((3, PRIORS * CLASSES)).astype(np.float32)
    conf[1] *= 0.5  # record 1: nothing above the threshold
    conf[2] = np.where(conf[2] > 0.95, conf[2], 0.1)  # record 2: a few
    feeds = _feeds(3, conf=conf)
    batch = scorer(feeds)
    keys = ("many", "none", "few")
    split = {
        key: np.asarray(orjson.loads(value)[key]["det"], np.float32)
        for key, value in results(Scored(keys, batch, scorer.layouts))
    }
    counts = [len(split[key][0]) for key in keys]
    assert counts[0] > counts[2] > 0 and counts[1] == 1
    np.testing.assert_array_equal(split["none"], [[[0, -1, -1, -1, -1, -1, -1]]])
    for index, key in enumerate(keys):
        alone = scorer({name: value[index : index + 1] for name, value in feeds.items()})["det"]
        np.testing.assert_array_equal(split[key], alone[0])  # Caffe's blob, batch axis dropped


@pytest.mark.parametrize(
    ("param", "reason"),
    [
        pytest.param(
            {"num_classes": 0, "nms_param": {"eta": 0.0}}, "eta must be in", id="eta_zero"
        ),
        pytest.param(
            {"nms_param": {"nms_threshold": -0.1}},
            "nms_threshold must be >= 0",
            id="negative_threshold",
        ),
        pytest.param({"num_classes": 3}, r"must be \[num, 108\]", id="classes_do_not_match"),
        pytest.param(
            {"background_label_id": -1},
            "skip decoding the shared boxes",
            id="shared_boxes_without_background",
        ),
    ],
)
def test_detection_output_refuses_what_caffe_refuses(param, reason):
    with pytest.raises(LayerError, match=reason):
        _detect(_feeds(1), **param)


def test_detections_cannot_feed_another_layer():
    layers = [*_layers(nms_param=NMS), layer("relu", "ReLU", ["det"], ["relu"])]
    with pytest.raises(LayerError, match="hold the detections of the whole batch"):
        run(layers, _feeds(1), ["relu"])
