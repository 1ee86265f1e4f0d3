"""Crop and Tile: a window of a blob, and repetitions of it."""

from __future__ import annotations

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import (
    ONE,
    TWO,
    canonical_axis,
    expect_blob_counts,
    neuron_bottom,
    refuse,
    refuse_batch_axis,
)
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _crop_offsets(layer: Layer, start: int, ndim: int) -> list[int]:
    """One offset per cropped axis (start..ndim-1): none given is 0, one given is for all."""
    offsets = [int(o) for o in layer.param.crop_param.offset]
    cropped = ndim - start
    if len(offsets) > 1 and len(offsets) != cropped:
        refuse(
            layer,
            f"crop_param.offset needs one value, or one per axis from {start} on "
            f"({cropped}); got {len(offsets)}",
        )
    if len(offsets) <= 1:
        return (offsets or [0]) * cropped
    return offsets


@converts("Crop")
def crop(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Crops bottom 0 to the shape of bottom 1 on every axis from axis on, at offset."""
    expect_blob_counts(layer, bottoms=TWO, tops=ONE)
    x, like = inputs
    ndim = len(x.shape)
    start = canonical_axis(layer, "crop_param.axis", layer.param.crop_param.axis, ndim)
    if len(like.shape) < ndim:
        refuse(layer, f"bottom 1 {like.shape} has fewer axes than bottom 0 {x.shape}")
    offsets = _crop_offsets(layer, start, ndim)
    shape = list(x.shape)
    for axis, offset in enumerate(offsets, start):
        if x.shape[axis] - offset < like.shape[axis]:
            refuse(
                layer,
                f"the crop of axis {axis} is out of bounds: size {like.shape[axis]} at offset "
                f"{offset} does not fit in {x.shape[axis]} ({x.shape})",
            )
        shape[axis] = like.shape[axis]
    if start == 0 and (offsets[0] != 0 or shape[0] != x.shape[0]):
        refuse_batch_axis(layer, "crops")
    axes = list(range(max(start, 1), ndim))
    if not axes:
        return [Tensor(g.op("Identity", x.name, output=layer.tops[0]), tuple(shape))]
    begins = [offsets[axis - start] for axis in axes]
    ends = [begin + shape[axis] for begin, axis in zip(begins, axes, strict=True)]
    cropped = g.op(
        "Slice",
        x.name,
        g.ints(begins, f"{layer.name}_starts"),
        g.ints(ends, f"{layer.name}_ends"),
        g.ints(axes, f"{layer.name}_axes"),
        output=layer.tops[0],
    )
    return [Tensor(cropped, tuple(shape))]


@converts("Tile")
def tile(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Repeats the bottom tiles times along axis (the whole block from axis on, each time)."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.tile_param
    if not param.HasField("tiles"):
        refuse(layer, "tile_param.tiles must be set")
    if param.tiles <= 0:
        refuse(layer, f"tile_param.tiles must be positive, got {param.tiles}")
    axis = canonical_axis(layer, "tile_param.axis", param.axis, len(x.shape))
    if axis == 0 and param.tiles > 1:
        refuse_batch_axis(layer, "tiles")
    repeats = [1] * len(x.shape)
    repeats[axis] = param.tiles
    shape = tuple(d * r for d, r in zip(x.shape, repeats, strict=True))
    tiled = g.op("Tile", x.name, g.ints(repeats, f"{layer.name}_repeats"), output=layer.tops[0])
    return [Tensor(tiled, shape)]
