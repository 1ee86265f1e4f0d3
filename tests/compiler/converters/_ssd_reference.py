"""Short numpy statements of weiliu89/caffe's SSD layers, loop for loop, for converter tests.

Written from prior_box_layer.cpp, detection_output_layer.cpp, bbox_util.cpp (DecodeBBox,
GetMaxScoreIndex, ApplyNMSFast, JaccardOverlap), normalize_layer.cpp and permute_layer.cpp.
"""

from __future__ import annotations

import math

import numpy as np

F32_MAX = float(np.finfo(np.float32).max)


def prior_box(
    feature_hw,
    image_hw,
    min_sizes,
    max_sizes=(),
    aspect_ratios=(),
    flip=True,
    clip=False,
    variances=(0.1,),
    img_hw=(0, 0),
    step_hw=(0.0, 0.0),
    offset=0.5,
):
    """PriorBoxLayer::Forward_cpu: [1, 2, H*W*priors*4]."""
    ratios = [1.0]
    for r in aspect_ratios:
        if all(abs(r - e) >= 1e-6 for e in ratios):
            ratios.append(r)
            if flip:
                ratios.append(1.0 / r)
    img_h, img_w = img_hw if img_hw[0] and img_hw[1] else image_hw
    step_h, step_w = (
        step_hw if step_hw[0] and step_hw[1] else (img_h / feature_hw[0], img_w / feature_hw[1])
    )
    boxes = []
    for h in range(feature_hw[0]):
        for w in range(feature_hw[1]):
            cx, cy = (w + offset) * step_w, (h + offset) * step_h
            for s, min_size in enumerate(min_sizes):
                sizes = [(int(min_size), int(min_size))]
                if max_sizes:
                    side = math.sqrt(int(min_size) * int(max_sizes[s]))
                    sizes.append((side, side))
                sizes += [
                    (int(min_size) * math.sqrt(r), int(min_size) / math.sqrt(r))
                    for r in ratios
                    if abs(r - 1) >= 1e-6
                ]
                for bw, bh in sizes:
                    boxes.append(
                        [
                            (cx - bw / 2) / img_w,
                            (cy - bh / 2) / img_h,
                            (cx + bw / 2) / img_w,
                            (cy + bh / 2) / img_h,
                        ]
                    )
    coords = np.asarray(boxes, np.float64).ravel()
    if clip:
        coords = np.clip(coords, 0, 1)
    var = np.resize(np.asarray(variances, np.float64), coords.size)
    return np.stack([coords, var])[None].astype(np.float32)


def _iou(a, b):
    """JaccardOverlap of normalized boxes (xmin, ymin, xmax, ymax)."""
    if b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1]:
        return 0.0
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0

    def size(box):
        if box[2] < box[0] or box[3] < box[1]:
            return 0.0
        return (box[2] - box[0]) * (box[3] - box[1])

    return w * h / (size(a) + size(b) - w * h)


def nms(boxes, scores, threshold, nms_threshold, eta, top_k):
    """ApplyNMSFast: kept indices, in order of (score descending, index ascending)."""
    order = [i for i in range(len(scores)) if scores[i] > threshold]
    order.sort(key=lambda i: -scores[i])  # Python's sort is stable, as std::stable_sort
    if top_k > -1:
        order = order[:top_k]
    kept, adaptive = [], nms_threshold
    for i in order:
        keep = all(_iou(boxes[i], boxes[k]) <= adaptive for k in kept)
        if keep:
            kept.append(i)
            if eta < 1 and adaptive > 0.5:
                adaptive *= eta
    return kept


def decode(prior, var, loc, code="CENTER_SIZE", encoded=False):
    """DecodeBBox for one prior and one prediction."""
    v = [1.0] * 4 if encoded else var
    if code == "CORNER":
        return [prior[i] + v[i] * loc[i] for i in range(4)]
    pw, ph = prior[2] - prior[0], prior[3] - prior[1]
    if code == "CORNER_SIZE":
        return [
            prior[0] + v[0] * loc[0] * pw,
            prior[1] + v[1] * loc[1] * ph,
            prior[2] + v[2] * loc[2] * pw,
            prior[3] + v[3] * loc[3] * ph,
        ]
    cx = v[0] * loc[0] * pw + (prior[0] + prior[2]) / 2
    cy = v[1] * loc[1] * ph + (prior[1] + prior[3]) / 2
    w, h = math.exp(v[2] * loc[2]) * pw, math.exp(v[3] * loc[3]) * ph
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def detection_output(
    loc,
    conf,
    prior,
    num_classes,
    share_location=True,
    background=0,
    nms_threshold=0.3,
    top_k=-1,
    eta=1.0,
    keep_top_k=-1,
    confidence_threshold=None,
    code="CORNER",
    encoded=False,
    clip=False,
):
    """DetectionOutputLayer::Forward_cpu for the whole batch: [1, 1, rows, 7]."""
    num, priors = loc.shape[0], prior.shape[2] // 4
    loc_classes = 1 if share_location else num_classes
    threshold = -F32_MAX if confidence_threshold is None else confidence_threshold
    boxes_p, vars_p = prior[0, 0].reshape(-1, 4), prior[0, 1].reshape(-1, 4)
    rows = []
    for n in range(num):
        locs = loc[n].reshape(priors, loc_classes, 4)
        scores = conf[n].reshape(priors, num_classes).T
        indices = {}
        for c in range(num_classes):
            if c == background:
                continue
            lc = 0 if share_location else c
            boxes = [
                decode(boxes_p[i], vars_p[i], locs[i, lc], code, encoded) for i in range(priors)
            ]
            if clip:
                boxes = [list(np.clip(b, 0, 1)) for b in boxes]
            indices[c] = (nms(boxes, scores[c], threshold, nms_threshold, eta, top_k), boxes)
        total = sum(len(kept) for kept, _ in indices.values())
        if keep_top_k > -1 and total > keep_top_k:
            pairs = [
                (scores[c][i], c, rank, i)
                for c, (kept, _) in indices.items()
                for rank, i in enumerate(kept)
            ]
            pairs.sort(key=lambda t: -t[0])  # stable: label, then rank on ties
            chosen = pairs[:keep_top_k]
            indices = {
                c: ([i for (_, cc, _, i) in chosen if cc == c], boxes)
                for c, (_, boxes) in indices.items()
            }
        for c in sorted(indices):
            kept, boxes = indices[c]
            for i in kept:
                rows.append([n, c, scores[c][i], *boxes[i]])
    if not rows:
        rows = [[n, -1, -1, -1, -1, -1, -1] for n in range(num)]
    return np.asarray(rows, np.float32).reshape(1, 1, -1, 7)


def normalize(x, scale, across_spatial=True, eps=1e-10):
    """NormalizeLayer::Forward_cpu; `scale` is one value or one per channel."""
    x = x.astype(np.float64)
    axes = tuple(range(1, x.ndim)) if across_spatial else (1,)
    norm = np.sqrt((x**2).sum(axis=axes, keepdims=True) + eps)
    per_channel = np.asarray(scale, np.float64).reshape((-1,) + (1,) * (x.ndim - 2))
    return x / norm * per_channel
