"""Scale and Bias: multiply (add) by an operand covering ``num_axes`` input axes from ``axis``.

The operand is a learned blob, or a second bottom. Caffe reads the covered axes from
the operand's own shape, which must equal the input's dims from ``axis`` on; a scalar
operand (``num_axes: 0``) scales everything. Scale's optional bias covers the same axes
as its scale, and is its last blob.
"""

from __future__ import annotations

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import (
    ONE,
    ONE_OR_TWO,
    canonical_axis,
    expect_blob_counts,
    refuse,
)
from caffebatch.compiler.converters._spatial import expect_blobs, scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def covered(
    layer: Layer, field: str, x_shape: tuple[int, ...], axis: int, num_axes: int
) -> tuple[int, tuple[int, ...]]:
    """(axis, shape) of the operand that ``axis``/``num_axes`` describe, checked like Caffe."""
    axis = canonical_axis(layer, f"{field}.axis", axis, len(x_shape))
    if num_axes < -1:
        refuse(layer, f"{field}.num_axes must be -1 (to the end) or more, got {num_axes}")
    end = len(x_shape) if num_axes == -1 else axis + num_axes
    if end > len(x_shape):
        refuse(
            layer,
            f"{field}: {num_axes} axes from axis {axis} extend past the {len(x_shape)}-D input",
        )
    return (0, ()) if end == axis else (axis, x_shape[axis:end])


def _learned(
    g: GraphBuilder,
    layer: Layer,
    index: int,
    axis: int,
    shape: tuple[int, ...],
    rank: int,
    what: str,
) -> str:
    if axis == 0 and shape:
        refuse(
            layer,
            f"a learned {what} over axis 0 would depend on the batch size; "
            "caffebatch scores any batch size",
        )
    array = layer.blob(index, shape, what)
    trailing = rank - axis - len(shape)
    return g.initializer(array.reshape(*shape, *([1] * trailing)), f"{layer.name}_{what}")


def _from_bottom(g: GraphBuilder, layer: Layer, x: Tensor, operand: Tensor, axis: int) -> str:
    shape = operand.shape
    if x.shape[axis : axis + len(shape)] != shape:
        refuse(
            layer,
            f"the second bottom {operand.name!r} has shape {shape}, expected the input's dims "
            f"from axis {axis}: {x.shape[axis : axis + len(shape)]}",
        )
    trailing = len(x.shape) - axis - len(shape)
    if trailing == 0:
        return operand.name
    # A second bottom that starts at axis 0 carries the batch: copy that dim (0) at run time.
    dims = [0 if axis == 0 else shape[0], *shape[1:], *([1] * trailing)]
    return g.op(
        "Reshape",
        operand.name,
        g.ints(dims, f"{layer.name}_operand_shape"),
        output=scratch(g, layer, "operand"),
    )


def _axis_for(
    layer: Layer, field: str, x_shape: tuple[int, ...], param_axis: int, operand_rank: int
) -> int:
    # Caffe: a scalar operand applies from axis 0 whatever `axis` says.
    return (
        0 if operand_rank == 0 else canonical_axis(layer, f"{field}.axis", param_axis, len(x_shape))
    )


def _operand(
    g: GraphBuilder, layer: Layer, inputs: list[Tensor], field: str, what: str
) -> tuple[str, int, tuple[int, ...]]:
    """The operand (second bottom or blob 0), broadcastable to the input; its axis and shape."""
    param = getattr(layer.param, field)
    x = inputs[0]
    if len(inputs) == 2:
        axis = _axis_for(layer, field, x.shape, param.axis, len(inputs[1].shape))
        return _from_bottom(g, layer, x, inputs[1], axis), axis, inputs[1].shape
    axis, shape = covered(layer, field, x.shape, param.axis, param.num_axes)
    return _learned(g, layer, 0, axis, shape, len(x.shape), what), axis, shape


@converts("Scale")
def scale(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe Scale: y = x * scale (+ bias), scale from blob 0 or the second bottom."""
    expect_blob_counts(layer, bottoms=ONE_OR_TWO, tops=ONE)
    p = layer.param.scale_param
    x, top = inputs[0], layer.tops[0]
    learned = len(inputs) == 1
    expect_blobs(layer, int(learned) + p.bias_term)
    factor, _, shape = _operand(g, layer, inputs, "scale_param", "scale")
    scaled = g.op("Mul", x.name, factor, output=scratch(g, layer, "scaled") if p.bias_term else top)
    if p.bias_term:
        # Caffe's inner Bias layer covers as many axes as the scale operand has.
        bias_axis, bias_shape = covered(
            layer, "scale_param", x.shape, p.axis, len(shape) if not learned else p.num_axes
        )
        bias = _learned(g, layer, int(learned), bias_axis, bias_shape, len(x.shape), "bias")
        g.op("Add", scaled, bias, output=top)
    return [Tensor(top, x.shape)]


@converts("Bias")
def bias(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe Bias: y = x + bias, bias from blob 0 or the second bottom."""
    expect_blob_counts(layer, bottoms=ONE_OR_TWO, tops=ONE)
    expect_blobs(layer, int(len(inputs) == 1))
    x, top = inputs[0], layer.tops[0]
    offset, _, _ = _operand(g, layer, inputs, "bias_param", "bias")
    g.op("Add", x.name, offset, output=top)
    return [Tensor(top, x.shape)]
