"""DetectionOutput (weiliu89/caffe, SSD): decoded boxes, per-class NMS, keep_top_k, rows.

The steps and their order are DetectionOutputLayer::Forward_cpu's:

1. decode each prior's location prediction (bbox_util.cpp's DecodeBBox, code_type
   CORNER, CENTER_SIZE or CORNER_SIZE, variances from the priors unless
   variance_encoded_in_target);
2. per record and class (the background class left out): the top_k scores, in Caffe's
   order (descending, the lower prior index first on ties), those above
   confidence_threshold being candidates; greedy NMS over them (`_nms`);
3. per record, when more than keep_top_k boxes survive, the keep_top_k best scores;
4. one row per kept box, ``[record, label, score, xmin, ymin, xmax, ymax]``, by record,
   then label, then descending score: ``[1, 1, rows, 7]``; when no record of the batch has
   any, Caffe's ``[i, -1, -1, -1, -1, -1, -1]`` for each record i.

The top is marked `layouts.ROWS`: each record's result is its own rows (see layouts).
On ties at the keep_top_k cut, Caffe's std::sort leaves the order unspecified; here the
lower label, then the better rank, wins. save_output_param and visualize (files and
windows during evaluation) do nothing when scoring.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import ONE, expect_blob_counts, refuse
from caffebatch.compiler.converters._forks import SSD
from caffebatch.compiler.converters._nms import greedy_nms
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.layouts import ROWS
from caffebatch.compiler.registry import Tensor, converts

Code = caffe_pb2.PriorBoxParameter
FLT_MAX = float(np.finfo(np.float32).max)


class _Ops:
    """Shorthand for the many small nodes of this layer, named after it."""

    def __init__(self, g: GraphBuilder, layer: Layer) -> None:
        self.g, self.layer = g, layer

    def __call__(self, op_type: str, *inputs: str, **attributes: object) -> str:
        return self.g.op(
            op_type, *inputs, output=scratch(self.g, self.layer, op_type.lower()), **attributes
        )

    def ints(self, *values: int) -> str:
        return self.g.ints(values, f"{self.layer.name}_ints")

    def float(self, value: float) -> str:
        return self.g.floats(value, f"{self.layer.name}_float")

    def column(self, x: str, index: int) -> str:
        """Coordinate `index` of the last axis, kept as an axis of size 1."""
        return self("Slice", x, self.ints(index), self.ints(index + 1), self.ints(-1))


def _decode(o: _Ops, code: int, encoded: bool, loc: str, priors: str, variances: str) -> str:
    """DecodeBBox for [.., P, 4] predictions against [P, 4] priors and variances."""
    px1, py1, px2, py2 = (o.column(priors, i) for i in range(4))
    l = [o.column(loc, i) for i in range(4)]
    if not encoded:
        l = [o("Mul", o.column(variances, i), l[i]) for i in range(4)]
    if code == Code.CORNER:
        corners = [o("Add", p, d) for p, d in zip((px1, py1, px2, py2), l, strict=True)]
    else:
        width, height = o("Sub", px2, px1), o("Sub", py2, py1)
        if code == Code.CORNER_SIZE:
            scales = (width, height, width, height)
            corners = [
                o("Add", p, o("Mul", d, s))
                for p, d, s in zip((px1, py1, px2, py2), l, scales, strict=True)
            ]
        else:  # CENTER_SIZE
            half = o.float(0.5)
            cx = o("Add", o("Mul", l[0], width), o("Mul", o("Add", px1, px2), half))
            cy = o("Add", o("Mul", l[1], height), o("Mul", o("Add", py1, py2), half))
            half_w = o("Mul", o("Mul", o("Exp", l[2]), width), half)
            half_h = o("Mul", o("Mul", o("Exp", l[3]), height), half)
            corners = [
                o("Sub", cx, half_w),
                o("Sub", cy, half_h),
                o("Add", cx, half_w),
                o("Add", cy, half_h),
            ]
    return o("Concat", *corners, axis=-1)


def _area(o: _Ops, boxes: str) -> str:
    """Caffe's BBoxSize: width * height, or 0 for a box with xmax < xmin or ymax < ymin."""
    sides = o(
        "Sub",
        o("Slice", boxes, o.ints(2), o.ints(4), o.ints(-1)),
        o("Slice", boxes, o.ints(0), o.ints(2), o.ints(-1)),
    )
    product = o("ReduceProd", sides, o.ints(-1), keepdims=0)
    inverted = o("Less", o("ReduceMin", sides, o.ints(-1), keepdims=0), o.float(0))
    return o("Where", inverted, o.float(0), product)


def _check_shapes(
    layer: Layer, loc: Tensor, conf: Tensor, prior: Tensor, loc_classes: int, classes: int
) -> int:
    """The number of priors, after Caffe's checks of the three bottoms against it."""
    if len(prior.shape) != 3 or prior.shape[1] != 2 or prior.shape[2] % 4:
        refuse(
            layer,
            f"bottom 2 (priors) must be [1, 2, priors*4] as PriorBox makes it, got {prior.shape}",
        )
    priors = prior.shape[2] // 4
    for what, x, per_prior in (("location", loc, loc_classes * 4), ("confidence", conf, classes)):
        if x.shape[1] != priors * per_prior or math.prod(x.shape[1:]) != x.shape[1]:
            refuse(
                layer,
                f"the {what} bottom {x.name!r} must be [num, {priors * per_prior}] "
                f"({priors} priors x {per_prior}), got {x.shape}",
            )
    return priors


@converts("DetectionOutput", fork=SSD)
def detection_output(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """SSD's detections: decoded boxes, per-class NMS and keep_top_k, as rows per record.

    Rows ``[record, label, score, xmin, ymin, xmax, ymax]``, ``[1, 1, rows, 7]`` for the
    batch; each record's result holds its own rows (``[0, -1, ...]`` when it has none).
    """
    expect_blob_counts(layer, bottoms=range(3, 4), tops=ONE)
    p = layer.param.detection_output_param
    if not p.HasField("num_classes"):
        refuse(layer, "detection_output_param.num_classes is required")
    nms = p.nms_param
    if nms.nms_threshold < 0:
        refuse(layer, f"nms_param.nms_threshold must be >= 0, got {nms.nms_threshold}")
    if not 0 < nms.eta <= 1:
        refuse(layer, f"nms_param.eta must be in (0, 1], got {nms.eta}")
    if p.share_location and p.background_label_id == -1:
        refuse(
            layer,
            "with share_location, background_label_id -1 makes Caffe skip decoding the "
            "shared boxes (bbox_util.cpp's DecodeBBoxesAll) and abort; for no "
            "background class, give a background_label_id of num_classes or more",
        )
    loc, conf, prior = inputs
    classes = p.num_classes
    loc_classes = 1 if p.share_location else classes
    priors = _check_shapes(layer, loc, conf, prior, loc_classes, classes)
    labels = [c for c in range(classes) if c != p.background_label_id]
    top_k = nms.top_k if nms.HasField("top_k") and nms.top_k > -1 else priors
    ranks = min(top_k, priors)
    o = _Ops(g, layer)

    # Priors of the first record (all records share them), then the decoded boxes
    both = o(
        "Reshape", o("Slice", prior.name, o.ints(0), o.ints(1), o.ints(0)), o.ints(2, priors, 4)
    )
    boxes = _decode(
        o,
        p.code_type,
        p.variance_encoded_in_target,
        o(
            "Transpose",
            o("Reshape", loc.name, o.ints(0, priors, loc_classes, 4)),
            perm=[0, 2, 1, 3],
        ),
        o("Squeeze", o("Slice", both, o.ints(0), o.ints(1), o.ints(0)), o.ints(0)),
        o("Squeeze", o("Slice", both, o.ints(1), o.ints(2), o.ints(0)), o.ints(0)),
    )
    if p.clip:  # OpenCV's extension: decoded boxes clipped to the image
        boxes = o("Clip", boxes, o.float(0), o.float(1))
    scores = o("Transpose", o("Reshape", conf.name, o.ints(0, priors, classes)), perm=[0, 2, 1])
    if len(labels) != classes:
        scores = o("Gather", scores, o.ints(*labels), axis=1)
        if not p.share_location:
            boxes = o("Gather", boxes, o.ints(*labels), axis=1)
    if p.share_location and len(labels) > 1:
        boxes = o("Expand", boxes, o.ints(1, len(labels), 1, 1))

    # Per record and class: the best `ranks` scores, and their boxes, in Caffe's order
    best, order = g.node(
        "TopK",
        [scores, o.ints(ranks)],
        [scratch(g, layer, "best"), scratch(g, layer, "order")],
        axis=2,
        largest=1,
        sorted=1,
    )
    threshold = p.confidence_threshold if p.HasField("confidence_threshold") else -FLT_MAX
    valid = o("Cast", o("Greater", best, o.float(threshold)), to=TensorProto.FLOAT)
    wide = o("Expand", o("Unsqueeze", order, o.ints(3)), o.ints(1, 1, 1, 4))
    candidates = o("GatherElements", boxes, wide, axis=2)
    kept = greedy_nms(
        g, layer, candidates, _area(o, candidates), valid, nms.nms_threshold, nms.eta, ranks
    )
    return [Tensor(_rows(o, p, kept, best, candidates, labels, ranks, loc), (1, 1, 1, 7), ROWS)]


def _rows(
    o: _Ops,
    p: caffe_pb2.DetectionOutputParameter,
    kept: str,
    best: str,
    candidates: str,
    labels: list[int],
    ranks: int,
    loc: Tensor,
) -> str:
    """keep_top_k per record, then the rows by record, label and rank; Caffe's rows when none."""
    flat = len(labels) * ranks
    kept_flat = o("Reshape", kept, o.ints(0, flat))
    if p.keep_top_k > -1:
        if p.keep_top_k == 0:
            kept_flat = o("Mul", kept_flat, o.float(0))
        elif p.keep_top_k < flat:
            # the keep_top_k best kept scores of each record (TopK: the lower index on ties)
            scores = o(
                "Where",
                o("Cast", kept_flat, to=TensorProto.BOOL),
                o("Reshape", best, o.ints(0, flat)),
                o.float(-math.inf),
            )
            _, chosen = o.g.node(
                "TopK",
                [scores, o.ints(p.keep_top_k)],
                [scratch(o.g, o.layer, "top"), scratch(o.g, o.layer, "chosen")],
                axis=1,
                largest=1,
                sorted=1,
            )
            ones = o("Cast", o("Add", o("Mul", chosen, o.ints(0)), o.ints(1)), to=TensorProto.FLOAT)
            picked = o("ScatterElements", o("Mul", kept_flat, o.float(0)), chosen, ones, axis=1)
            kept_flat = o("Mul", kept_flat, picked)
    where = o("Transpose", o("NonZero", kept_flat), perm=[1, 0])  # [rows, (record, j)], in order
    record = o("Cast", o("Slice", where, o.ints(0), o.ints(1), o.ints(1)), to=TensorProto.FLOAT)
    j = o("Squeeze", o("Slice", where, o.ints(1), o.ints(2), o.ints(1)), o.ints(1))
    label_of = o.g.floats(
        np.repeat(np.asarray(labels, np.float32), ranks), f"{o.layer.name}_labels"
    )
    label = o("Unsqueeze", o("Gather", label_of, j), o.ints(1))
    score = o("Unsqueeze", o("GatherND", o("Reshape", best, o.ints(0, flat)), where), o.ints(1))
    box = o("GatherND", o("Reshape", candidates, o.ints(0, flat, 4)), where)
    rows = o("Concat", record, label, score, box, axis=1)

    # No detection in the whole batch: Caffe writes [i, -1, -1, -1, -1, -1, -1] per record i
    batch = o("Shape", loc.name, start=0, end=1)
    ids = o(
        "Range",
        o("Squeeze", o.ints(0), o.ints(0)),
        o("Squeeze", batch, o.ints(0)),
        o("Squeeze", o.ints(1), o.ints(0)),
    )
    none = o(
        "Concat",
        o("Unsqueeze", o("Cast", ids, to=TensorProto.FLOAT), o.ints(1)),
        o("Expand", o.float(-1.0), o("Concat", batch, o.ints(6), axis=0)),
        axis=1,
    )
    found = o("Shape", rows, start=0, end=1)
    length = o("Where", o("Equal", found, o.ints(0)), batch, found)
    out = o("Slice", o("Concat", rows, none, axis=0), o.ints(0), length, o.ints(0))
    return o.g.op("Reshape", out, o.ints(1, 1, -1, 7), output=o.layer.tops[0])
