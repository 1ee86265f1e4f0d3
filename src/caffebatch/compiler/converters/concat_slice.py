"""Concat and Slice: join blobs along an axis, and cut one blob into several."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import (
    AT_LEAST_ONE,
    ONE,
    canonical_axis,
    expect_blob_counts,
    refuse,
    refuse_batch_axis,
)
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _axis(layer: Layer, field: str, legacy_field: str, ndim: int) -> int:
    """The axis from `field`.axis, or from the older unsigned `legacy_field` (never both)."""
    param: Any = getattr(layer.param, field)  # concat_param or slice_param
    if param.HasField("axis") and param.HasField(legacy_field):
        refuse(layer, f"set {field}.axis or {field}.{legacy_field}, not both")
    if param.HasField(legacy_field):
        legacy = getattr(param, legacy_field)
        if legacy >= ndim:
            refuse(
                layer,
                f"{field}.{legacy_field} {legacy} is out of range for a {ndim}-D input: "
                f"expected 0 <= {legacy_field} < {ndim}",
            )
        return int(legacy)
    return canonical_axis(layer, f"{field}.axis", param.axis, ndim)


@converts("Concat")
def concat(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Joins its bottoms along axis (or concat_dim); all other dimensions must agree."""
    expect_blob_counts(layer, bottoms=AT_LEAST_ONE, tops=ONE)
    first = inputs[0]
    axis = _axis(layer, "concat_param", "concat_dim", len(first.shape))
    for x in inputs[1:]:
        if len(x.shape) != len(first.shape):
            refuse(
                layer,
                f"all bottoms must have the same number of axes: {first.name!r} is "
                f"{first.shape}, {x.name!r} is {x.shape}",
            )
        if any(a != b for i, (a, b) in enumerate(zip(first.shape, x.shape)) if i != axis):
            refuse(
                layer,
                f"all bottoms must have the same shape except on axis {axis}: "
                f"{first.name!r} is {first.shape}, {x.name!r} is {x.shape}",
            )
    if axis == 0 and len(inputs) > 1:
        refuse_batch_axis(layer, "concatenates")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in inputs)
    joined = g.op("Concat", *[x.name for x in inputs], output=layer.tops[0], axis=axis)
    return [Tensor(joined, tuple(shape))]


def _slice_sizes(layer: Layer, points: list[int], size: int, axis: int) -> list[int]:
    """The size of each top along the slice axis, as Caffe's SliceLayer::Reshape gives it."""
    tops = len(layer.tops)
    if not points:
        if size % tops:
            refuse(layer, f"{tops} tops do not evenly divide axis {axis} of size {size}")
        return [size // tops] * tops
    if len(points) != tops - 1:
        refuse(layer, f"{tops} tops need {tops - 1} slice_point values, got {len(points)}")
    bounds = [0, *points, size]
    if any(end <= start for start, end in pairwise(bounds)):
        refuse(
            layer,
            f"slice_point {points} must increase strictly and stay inside axis {axis} "
            f"of size {size}",
        )
    return [end - start for start, end in pairwise(bounds)]


@converts("Slice")
def slice_layer(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Cuts its bottom along axis (or slice_dim) at slice_point, or into equal parts."""
    expect_blob_counts(layer, bottoms=ONE, tops=AT_LEAST_ONE)
    x = inputs[0]
    axis = _axis(layer, "slice_param", "slice_dim", len(x.shape))
    sizes = _slice_sizes(layer, list(layer.param.slice_param.slice_point), x.shape[axis], axis)
    if len(sizes) == 1:
        return [Tensor(g.op("Identity", x.name, output=layer.tops[0]), x.shape)]
    if axis == 0:
        refuse_batch_axis(layer, "slices")
    split = g.ints(sizes, f"{layer.name}_sizes")
    g.node("Split", [x.name, split], list(layer.tops), axis=axis)
    shapes = [x.shape[:axis] + (size,) + x.shape[axis + 1 :] for size in sizes]
    return [Tensor(top, shape) for top, shape in zip(layer.tops, shapes, strict=True)]
