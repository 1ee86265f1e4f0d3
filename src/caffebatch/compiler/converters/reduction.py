"""Reductions over axes: Reduction, ArgMax and Softmax."""

from __future__ import annotations

import math

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import (
    canonical_axis,
    neuron_bottom,
    refuse,
    refuse_batch_axis,
)
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts

ReductionOp = caffe_pb2.ReductionParameter

# Caffe's reduction operations and the ONNX reductions that compute them
REDUCTIONS = {
    ReductionOp.SUM: "ReduceSum",
    ReductionOp.ASUM: "ReduceL1",
    ReductionOp.SUMSQ: "ReduceSumSquare",
    ReductionOp.MEAN: "ReduceMean",
}


@converts("Reduction")
def reduction(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """coeff * SUM, ASUM (sum of |x|), SUMSQ or MEAN over all axes from axis to the last."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.reduction_param
    ndim = len(x.shape)
    axis = canonical_axis(layer, "reduction_param.axis", param.axis, ndim)
    if axis == 0:
        # Caffe's default axis is 0, which gives one number for the whole batch.
        refuse_batch_axis(layer, "reduces", hint="reduction_param.axis defaults to 0; set it to 1")
    axes = g.ints(range(axis, ndim), f"{layer.name}_axes")
    top = layer.tops[0]
    op_type = REDUCTIONS[param.operation]
    if param.coeff == 1:
        reduced = g.op(op_type, x.name, axes, output=top, keepdims=0)
    else:
        summed = g.op(op_type, x.name, axes, keepdims=0)
        reduced = g.op("Mul", summed, g.floats(param.coeff, f"{layer.name}_coeff"), output=top)
    return [Tensor(reduced, x.shape[:axis])]


@converts("Softmax")
def softmax(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = exp(x) / sum(exp(x)) along axis (default 1, the channels; negatives from the end)."""
    x = neuron_bottom(layer, inputs)
    axis = canonical_axis(layer, "softmax_param.axis", layer.param.softmax_param.axis, len(x.shape))
    if axis == 0:
        refuse_batch_axis(layer, "normalises")
    return [Tensor(g.op("Softmax", x.name, output=layer.tops[0], axis=axis), x.shape)]


def _top_k(g: GraphBuilder, layer: Layer, x: str, k: int, axis: int, size: int) -> tuple[str, str]:
    """The k largest values along `axis` and their indexes (float), ranked as Caffe ranks them.

    Caffe sorts (value, index) pairs with std::greater, so among equal values the larger
    index comes first; ONNX TopK prefers the smaller. Ranking the reversed axis and
    mapping each index i back to size - 1 - i gives Caffe's order.
    """
    reversed_x = g.op(
        "Slice",
        x,
        g.ints([-1], f"{layer.name}_rev_start"),
        g.ints([-(size + 1)], f"{layer.name}_rev_end"),
        g.ints([axis], f"{layer.name}_rev_axis"),
        g.ints([-1], f"{layer.name}_rev_step"),
    )
    values, reversed_index = g.node(
        "TopK",
        [reversed_x, g.ints([k], f"{layer.name}_k")],
        [g.fresh(f"{layer.name}_values"), g.fresh(f"{layer.name}_rindex")],
        axis=axis,
        largest=1,
        sorted=1,
    )
    last = g.floats(size - 1, f"{layer.name}_last")
    index = g.op("Sub", last, g.op("Cast", reversed_index, to=1))
    return values, index


@converts("ArgMax")
def argmax(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Indexes (and with out_max_val, values) of the top_k largest values per record or axis."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.argmax_param
    k = param.top_k
    if k < 1:
        refuse(layer, f"argmax_param.top_k must be at least 1, got {k}")
    top = layer.tops[0]
    if param.HasField("axis"):
        axis = canonical_axis(layer, "argmax_param.axis", param.axis, len(x.shape))
        if axis == 0:
            refuse_batch_axis(layer, "ranks values")
        if k > x.shape[axis]:
            refuse(
                layer,
                f"argmax_param.top_k {k} is more than the {x.shape[axis]} values on axis "
                f"{axis} of {x.shape}",
            )
        values, index = _top_k(g, layer, x.name, k, axis, x.shape[axis])
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1 :]
        result = values if param.out_max_val else index
        return [Tensor(g.op("Identity", result, output=top), shape)]
    # Without an axis Caffe ranks each record's values, flattened, and writes (N, 1, k)
    # indexes, or (N, 2, k) with the indexes in row 0 and the values in row 1, padded
    # with unit axes to the bottom's number of axes.
    per_record = math.prod(x.shape[1:])
    if k > per_record:
        refuse(
            layer,
            f"argmax_param.top_k {k} is more than the {per_record} values per record of "
            f"{x.shape}",
        )
    flat = g.op("Flatten", x.name, axis=1)
    values, index = _top_k(g, layer, flat, k, 1, per_record)
    rows = 2 if param.out_max_val else 1
    shape = (x.shape[0], rows, k) + (1,) * (len(x.shape) - 3)
    target = g.ints([0, rows, k, *shape[3:]], f"{layer.name}_shape")
    if param.out_max_val:
        stacked = g.op("Concat", index, values, axis=1)
        return [Tensor(g.op("Reshape", stacked, target, output=top), shape)]
    return [Tensor(g.op("Reshape", index, target, output=top), shape)]
