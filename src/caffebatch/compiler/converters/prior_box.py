"""PriorBox (weiliu89/caffe, SSD): the default boxes of one feature map, as a constant.

The priors depend only on the shapes of the feature map and the image, never on their
values, and every record of a batch shares them: the top is Caffe's ``[1, 2, H*W*n*4]``
blob (boxes, then variances), computed here once, as Caffe's PriorBoxLayer::Forward_cpu
does (including its float/double mix and its int truncation of min_size and max_size).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import ONE, TWO, expect_blob_counts, refuse
from caffebatch.compiler.converters._forks import SSD
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.layouts import SHARED
from caffebatch.compiler.registry import Tensor, converts

Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class Priors:
    """PriorBoxLayer::LayerSetUp's view of prior_box_param, checked as it checks it."""

    min_sizes: tuple[float, ...]
    max_sizes: tuple[float, ...]
    aspect_ratios: tuple[float, ...]  # 1 first, then each new ratio (and 1/ratio with flip)
    variances: tuple[float, ...]  # one value, or one per coordinate
    clip: bool
    img: tuple[int, int]  # (height, width); 0 = the image bottom's
    step: tuple[float, float]  # (height, width); 0 = image size / feature map size
    offset: float

    @property
    def per_cell(self) -> int:
        return len(self.aspect_ratios) * len(self.min_sizes) + len(self.max_sizes)


def _pair(
    layer: Layer, both: str, h: str, w: str, cast: Callable[[float], Number]
) -> tuple[Number, Number]:
    p = layer.param.prior_box_param
    if p.HasField(h) or p.HasField(w):
        if p.HasField(both):
            refuse(layer, f"set either prior_box_param.{both} or {h}/{w}, not both")
        pair = (cast(getattr(p, h)), cast(getattr(p, w)))
        if min(pair) <= 0:
            refuse(layer, f"prior_box_param.{h} and {w} must be > 0, got {pair}")
        return pair
    if p.HasField(both):
        value = cast(getattr(p, both))
        if value <= 0:
            refuse(layer, f"prior_box_param.{both} must be > 0, got {value}")
        return (value, value)
    return (cast(0), cast(0))


def _aspect_ratios(ratios: Iterable[float], flip: bool) -> tuple[float, ...]:
    kept = [np.float32(1.0)]
    for ratio in (np.float32(r) for r in ratios):
        if any(abs(ratio - existing) < 1e-6 for existing in kept):
            continue
        kept.append(ratio)
        if flip:
            kept.append(np.float32(1.0 / float(ratio)))
    return tuple(float(r) for r in kept)


def read_priors(layer: Layer) -> Priors:
    """prior_box_param, with Caffe's defaults and refusals."""
    p = layer.param.prior_box_param
    if not p.min_size:
        refuse(layer, "prior_box_param.min_size is required")
    if min(p.min_size) <= 0:
        refuse(layer, f"prior_box_param.min_size must be > 0, got {list(p.min_size)}")
    if p.max_size:
        if len(p.max_size) != len(p.min_size):
            refuse(
                layer,
                f"prior_box_param gives {len(p.min_size)} min_size but "
                f"{len(p.max_size)} max_size; give one max_size per min_size or none",
            )
        if any(big <= small for small, big in zip(p.min_size, p.max_size, strict=True)):
            refuse(
                layer,
                "each prior_box_param.max_size must be greater than its min_size, "
                f"got min {list(p.min_size)} and max {list(p.max_size)}",
            )
    if len(p.variance) not in (0, 1, 4):
        refuse(layer, f"prior_box_param.variance takes 1 or 4 values, got {len(p.variance)}")
    if any(v <= 0 for v in p.variance):
        refuse(layer, f"prior_box_param.variance must be > 0, got {list(p.variance)}")
    return Priors(
        min_sizes=tuple(p.min_size),
        max_sizes=tuple(p.max_size),
        aspect_ratios=_aspect_ratios(p.aspect_ratio, p.flip),
        variances=tuple(p.variance) or (0.1,),
        clip=p.clip,
        img=_pair(layer, "img_size", "img_h", "img_w", int),
        step=_pair(layer, "step", "step_h", "step_w", float),
        offset=p.offset,
    )


def _box(
    cx: np.float32, cy: np.float32, width: float, height: float, img: tuple[int, int]
) -> tuple[float, float, float, float]:
    # Caffe computes these four in double from float centers and float box sizes
    w, h = float(np.float32(width)) / 2.0, float(np.float32(height)) / 2.0
    return (
        (float(cx) - w) / img[1],
        (float(cy) - h) / img[0],
        (float(cx) + w) / img[1],
        (float(cy) + h) / img[0],
    )


def prior_boxes(priors: Priors, feature: tuple[int, int], image: tuple[int, int]) -> np.ndarray:
    """Caffe's top for a feature map of (height, width) on an image of (height, width)."""
    img = priors.img if priors.img[0] and priors.img[1] else image
    if priors.step[0] and priors.step[1]:
        step_h, step_w = np.float32(priors.step[0]), np.float32(priors.step[1])
    else:
        step_h = np.float32(np.float32(img[0]) / np.float32(feature[0]))
        step_w = np.float32(np.float32(img[1]) / np.float32(feature[1]))
    offset = np.float32(priors.offset)
    boxes = []
    for y in range(feature[0]):
        for x in range(feature[1]):
            cx = (np.float32(x) + offset) * step_w
            cy = (np.float32(y) + offset) * step_h
            for s, min_size in enumerate(priors.min_sizes):
                small = int(min_size)  # Caffe keeps min_size and max_size in ints here
                boxes.append(_box(cx, cy, small, small, img))
                if priors.max_sizes:
                    side = math.sqrt(small * int(priors.max_sizes[s]))
                    boxes.append(_box(cx, cy, side, side, img))
                for ratio in priors.aspect_ratios:
                    if abs(ratio - 1.0) < 1e-6:
                        continue
                    root = math.sqrt(ratio)
                    boxes.append(_box(cx, cy, small * root, small / root, img))
    coords = np.asarray(boxes, dtype=np.float64).astype(np.float32).ravel()
    if priors.clip:
        coords = np.clip(coords, np.float32(0), np.float32(1))
    variances = np.resize(np.asarray(priors.variances, dtype=np.float32), coords.size)
    return np.stack([coords, variances])[np.newaxis]


@converts("PriorBox", fork=SSD)
def prior_box(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """SSD's default boxes for the feature map (bottom 0) on the image (bottom 1), a constant.

    Sizes min_size and sqrt(min_size * max_size), then min_size at each aspect ratio (and
    its inverse with flip), centred at (cell + offset) * step, over the image size
    (img_size/img_h/img_w, else bottom 1's); clip keeps them in [0, 1]. The top is
    ``[1, 2, H*W*priors*4]``, shared by every record: the boxes, then their variances.
    """
    expect_blob_counts(layer, bottoms=TWO, tops=ONE)
    feature, image = inputs
    for bottom in (feature, image):
        if len(bottom.shape) != 4:
            refuse(
                layer,
                f"bottom {bottom.name!r} must be 4-D (num, channels, height, width), "
                f"got {bottom.shape}",
            )
    priors = read_priors(layer)
    top = prior_boxes(
        priors, (feature.shape[2], feature.shape[3]), (image.shape[2], image.shape[3])
    )
    value = g.initializer(top, f"{layer.name}_priors")
    return [Tensor(g.op("Identity", value, output=layer.tops[0]), top.shape, SHARED)]
