"""How an SSD net's detections are checked: its DetectionOutput inputs, then its rows.

The strong check is on what feeds each DetectionOutput (the location, confidence and
prior concatenations), compared with OpenCV like any other output. The rows are then
compared twice: with weiliu89's DetectionOutput as a numpy statement
(tests/compiler/converters/_ssd_reference.py) fed with our own inputs to the layer, row
for row; and with OpenCV's as a set, since OpenCV orders the rows its own way and pads
its blob with rows of zeros.
"""

from __future__ import annotations

import numpy as np

from caffebatch.caffe.net import Layer, Net
from caffebatch.caffe.proto import caffe_pb2
from tests.compiler.converters import _ssd_reference as ref


def detection_layers(net: Net, outputs: list[str]) -> dict[str, Layer]:
    """The DetectionOutput layers among `outputs`, by name."""
    return {l.name: l for l in net.layers if l.type == "DetectionOutput" and l.name in outputs}


def feeders(net: Net, layer: Layer) -> list[str]:
    """The layers that wrote `layer`'s bottoms (location, confidence, priors), in order."""
    writer = {top: l.name for l in net.layers for top in l.tops}
    return [writer[bottom] for bottom in layer.bottoms]


def reference_rows(layer: Layer, loc: np.ndarray, conf: np.ndarray, prior: np.ndarray):
    """weiliu89's DetectionOutputLayer::Forward_cpu on these inputs, in numpy."""
    p = layer.param.detection_output_param
    nms = p.nms_param
    return ref.detection_output(
        loc,
        conf,
        prior,
        p.num_classes,
        share_location=p.share_location,
        background=p.background_label_id,
        nms_threshold=nms.nms_threshold,
        top_k=nms.top_k if nms.HasField("top_k") else -1,
        eta=nms.eta,
        keep_top_k=p.keep_top_k,
        confidence_threshold=p.confidence_threshold if p.HasField("confidence_threshold") else None,
        code=caffe_pb2.PriorBoxParameter.CodeType.Name(p.code_type),
        encoded=p.variance_encoded_in_target,
        clip=p.clip,
    )


def as_set(rows: np.ndarray) -> np.ndarray:
    """The detections of `rows`, sorted by (image, label, -score, box): no order, no padding.

    Caffe's row for an image without detections has score -1 and OpenCV's padding rows
    are zeros; a detection's score is above the confidence threshold, so positive.
    """
    rows = rows.reshape(-1, rows.shape[-1])
    rows = rows[rows[:, 2] > 0]
    keys = (rows[:, 6], rows[:, 5], rows[:, 4], rows[:, 3], -rows[:, 2], rows[:, 1], rows[:, 0])
    return rows[np.lexsort(keys)]


def paired(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """`theirs` reordered row for row to match `ours` (both `as_set`): each row of ours takes
    the nearest unused row of theirs of its image and label. Sorting alone is not enough:
    two boxes whose scores differ by less than float rounding sort either way."""
    if len(ours) != len(theirs):
        return theirs
    free = list(range(len(theirs)))
    order = []
    for row in ours:
        same = [i for i in free if (theirs[i, :2] == row[:2]).all()] or free
        nearest = min(same, key=lambda i: float(np.abs(theirs[i] - row).max()))
        free.remove(nearest)
        order.append(nearest)
    return theirs[order]
