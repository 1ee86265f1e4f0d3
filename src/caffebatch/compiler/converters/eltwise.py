"""Eltwise: the element-wise sum (with coefficients), product or maximum of its bottoms."""

from __future__ import annotations

from collections.abc import Callable

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import AT_LEAST_TWO, ONE, expect_blob_counts, refuse
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts

Op = caffe_pb2.EltwiseParameter


def _sum(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> str:
    coeffs = list(layer.param.eltwise_param.coeff) or [1.0] * len(inputs)
    terms = []
    for i, (x, coeff) in enumerate(zip(inputs, coeffs, strict=True)):
        if coeff == 1:
            terms.append(x.name)
        else:
            terms.append(g.op("Mul", x.name, g.floats(coeff, f"{layer.name}_coeff{i}")))
    return g.op("Sum", *terms, output=layer.tops[0])


def _product(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> str:
    # Caffe multiplies left to right: ((x0 * x1) * x2) ...
    product = inputs[0].name
    for x in inputs[1:-1]:
        product = g.op("Mul", product, x.name)
    return g.op("Mul", product, inputs[-1].name, output=layer.tops[0])


def _maximum(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> str:
    # Caffe accepts coefficients with MAX and ignores them
    return g.op("Max", *[x.name for x in inputs], output=layer.tops[0])


OPERATIONS: dict[int, Callable[[Layer, list[Tensor], GraphBuilder], str]] = {
    Op.SUM: _sum,
    Op.PROD: _product,
    Op.MAX: _maximum,
}


@converts("Eltwise")
def eltwise(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = sum_i coeff_i * x_i (SUM), prod_i x_i (PROD) or max_i x_i (MAX) of equal shapes."""
    expect_blob_counts(layer, bottoms=AT_LEAST_TWO, tops=ONE)
    param = layer.param.eltwise_param
    coeffs = len(param.coeff)
    if coeffs and coeffs != len(inputs):
        refuse(layer, f"takes one coeff per bottom: {len(inputs)} bottoms, {coeffs} coeffs")
    if coeffs and param.operation == Op.PROD:
        refuse(layer, "coeff is only for operation SUM, but the operation is PROD")
    first = inputs[0]
    for x in inputs[1:]:
        if x.shape != first.shape:
            refuse(
                layer,
                f"all bottoms must have the same shape: {first.name!r} is {first.shape}, "
                f"{x.name!r} is {x.shape}",
            )
    return [Tensor(OPERATIONS[param.operation](layer, inputs, g), first.shape)]
