"""Flatten and Reshape: new shapes for the same values, never moving the batch axis.

Each converter states Caffe's shape rule as a function of the bottom shape, so that
`per_record_shape` can check it keeps one row per record at any batch size; the
ONNX Reshape then copies the symbolic batch axis and fixes the rest.
"""

from __future__ import annotations

import math

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import (
    Shape,
    batch_reshape_target,
    canonical_axis,
    neuron_bottom,
    per_record_shape,
    refuse,
)
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _reshaped(layer: Layer, x: Tensor, shape: Shape, g: GraphBuilder) -> list[Tensor]:
    target = g.ints(batch_reshape_target(shape), f"{layer.name}_shape")
    return [Tensor(g.op("Reshape", x.name, target, output=layer.tops[0]), shape)]


def flatten_shape(layer: Layer, bottom: Shape) -> Shape:
    """Caffe's FlattenLayer::Reshape: axes axis..end_axis become one."""
    param = layer.param.flatten_param
    start = canonical_axis(layer, "flatten_param.axis", param.axis, len(bottom))
    end = canonical_axis(layer, "flatten_param.end_axis", param.end_axis, len(bottom))
    if end < start - 1:
        refuse(layer, f"flatten_param.end_axis ({end}) comes before axis ({start})")
    return (*bottom[:start], math.prod(bottom[start : end + 1]), *bottom[end + 1 :])


@converts("Flatten")
def flatten(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Merges the axes from axis to end_axis (both inclusive, negatives from the end) into one."""
    x = neuron_bottom(layer, inputs)
    if layer.param.top and list(layer.param.top) == list(layer.param.bottom):
        refuse(layer, "Flatten cannot run in place (its top must differ from its bottom)")
    shape = per_record_shape(layer, lambda bottom: flatten_shape(layer, bottom), x.shape)
    return _reshaped(layer, x, shape, g)


def reshape_shape(layer: Layer, bottom: Shape) -> Shape:
    """Caffe's ReshapeLayer::Reshape: dims 0 copy, one -1 is inferred, axis/num_axes bound it."""
    param = layer.param.reshape_param
    dims = [int(d) for d in param.shape.dim]
    if dims.count(-1) > 1:
        refuse(layer, f"reshape_param.shape {dims} has more than one -1 (at most one is inferred)")
    ndim = len(bottom)
    start = param.axis if param.axis >= 0 else ndim + param.axis + 1
    if not 0 <= start <= ndim:
        refuse(layer, f"reshape_param.axis {param.axis} is out of range for a {ndim}-D input")
    if param.num_axes < -1:
        refuse(layer, f"reshape_param.num_axes must be >= 0, or -1 for all; got {param.num_axes}")
    end = ndim if param.num_axes == -1 else start + param.num_axes
    if end > ndim:
        refuse(
            layer,
            f"reshape_param.axis + num_axes = {end} is beyond the {ndim} axes of {bottom}",
        )
    new = []
    for i, dim in enumerate(dims):
        if dim == 0:
            if start + i >= ndim:
                refuse(
                    layer,
                    f"reshape_param.shape has a 0 at {i}, but {bottom} has no axis {start + i} "
                    "to copy",
                )
            dim = bottom[start + i]
        elif dim < -1:
            refuse(layer, f"reshape_param.shape {dims} has a negative dim other than -1")
        new.append(dim)
    top = [*bottom[:start], *new, *bottom[end:]]
    count = math.prod(bottom)
    if -1 in new:
        known = math.prod(d for d in top if d != -1)
        if known == 0 or count % known:
            refuse(
                layer,
                f"bottom count ({count}) of {bottom} must be divisible by the product of the "
                f"specified dimensions ({known})",
            )
        top[top.index(-1)] = count // known
    if math.prod(top) != count:
        refuse(
            layer,
            f"output count {math.prod(top)} of {tuple(top)} must match input count {count} "
            f"of {bottom}",
        )
    return tuple(top)


@converts("Reshape")
def reshape(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """New dims for the same values: 0 copies a dim, -1 is inferred, axis/num_axes limit it."""
    x = neuron_bottom(layer, inputs)
    shape = per_record_shape(layer, lambda bottom: reshape_shape(layer, bottom), x.shape)
    return _reshaped(layer, x, shape, g)
