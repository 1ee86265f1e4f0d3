"""InnerProduct: a Gemm over the input flattened from ``axis``.

Caffe treats the axes before ``axis`` as rows (M) and everything from ``axis`` on as one
vector of K values; the top is ``shape[:axis] + (num_output,)``. The weight is stored
(num_output, K), or (K, num_output) with ``transpose: true``.
"""

from __future__ import annotations

import math

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import (
    canonical_axis,
    neuron_bottom,
    refuse,
    refuse_batch_axis,
)
from caffebatch.compiler.converters._spatial import expect_blobs, scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


@converts("InnerProduct")
def inner_product(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe InnerProduct (axis, transpose, bias_term)."""
    p = layer.param.inner_product_param
    x = neuron_bottom(layer, inputs)
    axis = canonical_axis(layer, "inner_product_param.axis", p.axis, len(x.shape))
    if axis == 0:
        refuse_batch_axis(
            layer,
            "an inner product with inner_product_param.axis 0 (its weights would span the records)",
        )
    if p.num_output <= 0:
        refuse(layer, "inner_product_param.num_output must be positive")
    k = math.prod(x.shape[axis:])
    expect_blobs(layer, 1 + p.bias_term)
    weight_shape = (k, p.num_output) if p.transpose else (p.num_output, k)
    weight = g.initializer(layer.blob(0, weight_shape, "weight"), f"{layer.name}_weight")
    operands = [weight]
    if p.bias_term:
        operands.append(
            g.initializer(layer.blob(1, (p.num_output,), "bias"), f"{layer.name}_bias")
        )
    out_shape = (*x.shape[:axis], p.num_output)
    top = layer.tops[0]
    rows = x.name
    if len(x.shape) != 2:
        rows = g.op("Flatten", x.name, output=scratch(g, layer, "rows"), axis=axis)
    product = top if len(out_shape) == 2 else scratch(g, layer, "product")
    g.op("Gemm", rows, *operands, output=product, transB=0 if p.transpose else 1)
    if product != top:
        g.op("Reshape", product, g.ints([-1, *out_shape[1:]], f"{layer.name}_shape"), output=top)
    return [Tensor(top, out_shape)]
