"""Layers that move blobs around without computing: Dropout, Split, Silence, Parameter."""

from __future__ import annotations

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import (
    AT_LEAST_ONE,
    NONE,
    ONE,
    expect_blob_counts,
    neuron_bottom,
)
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


@converts("Dropout")
def dropout(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = x: Caffe's Dropout scales during training and is the identity at TEST time."""
    x = neuron_bottom(layer, inputs)
    return [Tensor(g.op("Identity", x.name, output=layer.tops[0]), x.shape)]


@converts("Split")
def split(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Copies its one bottom to every top."""
    expect_blob_counts(layer, bottoms=ONE, tops=AT_LEAST_ONE)
    x = inputs[0]
    return [Tensor(g.op("Identity", x.name, output=top), x.shape) for top in layer.tops]


@converts("Silence")
def silence(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Consumes its bottoms and produces nothing (keeps Caffe from reporting them as outputs)."""
    expect_blob_counts(layer, bottoms=AT_LEAST_ONE, tops=NONE)
    return []


@converts("Parameter")
def parameter(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Outputs its learned blob, of parameter_param.shape, as a constant.

    The blob has no batch axis: its first dimension is part of the constant, whatever
    the batch size, exactly as in Caffe, where the blob does not change when the net
    is reshaped for another batch size.
    """
    expect_blob_counts(layer, bottoms=NONE, tops=ONE)
    shape = tuple(int(d) for d in layer.param.parameter_param.shape.dim)
    blob = layer.blob(0, shape)
    value = g.initializer(blob, f"{layer.name}_value")
    return [Tensor(g.op("Identity", value, output=layer.tops[0]), shape)]
