"""Permute (weiliu89/caffe, SSD): the axes of a blob in a new order."""

from __future__ import annotations

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import neuron_bottom, refuse, refuse_batch_axis
from caffebatch.compiler.converters._forks import SSD
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def permute_order(layer: Layer, ndim: int) -> list[int]:
    """PermuteLayer::LayerSetUp's order: the listed axes, then the others in their order."""
    order: list[int] = []
    for axis in layer.param.permute_param.order:
        if axis >= ndim:
            refuse(layer, f"permute_param.order {axis} is not an axis of a {ndim}-D input")
        if axis in order:
            refuse(layer, f"permute_param.order lists axis {axis} twice")
        order.append(int(axis))
    return order + [axis for axis in range(ndim) if axis not in order]


@converts("Permute", fork=SSD)
def permute(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Transposes its bottom to permute_param.order (unlisted axes follow in their order)."""
    x = neuron_bottom(layer, inputs)
    order = permute_order(layer, len(x.shape))
    if order[0] != 0:
        refuse_batch_axis(layer, f"permute_param.order {order} moves the data")
    shape = tuple(x.shape[axis] for axis in order)
    if order == sorted(order):
        # Caffe shares the bottom's data when the order changes nothing
        return [Tensor(g.op("Identity", x.name, output=layer.tops[0]), shape)]
    return [Tensor(g.op("Transpose", x.name, output=layer.tops[0], perm=order), shape)]
