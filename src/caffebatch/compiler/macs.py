"""Multiply-accumulates per record, by layer type (the layers that dominate the cost)."""

from __future__ import annotations

import math
from collections.abc import Callable

from caffebatch.caffe.net import Layer
from caffebatch.compiler.registry import Tensor

MacCounter = Callable[[Layer, list[Tensor], list[Tensor]], int]


def _per_record(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def _convolution(layer: Layer, inputs: list[Tensor], outputs: list[Tensor]) -> int:
    # Each output value sums over (input channels / group) x kernel window.
    weights = layer.blobs[0]
    per_output = math.prod(weights.shape[1:])
    return _per_record(outputs[0].shape) * per_output


def _deconvolution(layer: Layer, inputs: list[Tensor], outputs: list[Tensor]) -> int:
    # Each input value scatters into (output channels / group) x kernel window.
    weights = layer.blobs[0]
    per_input = math.prod(weights.shape[1:])
    return _per_record(inputs[0].shape) * per_input


def _inner_product(layer: Layer, inputs: list[Tensor], outputs: list[Tensor]) -> int:
    return layer.blobs[0].size * (_per_record(outputs[0].shape) // max(1, _num_output(layer)))


def _num_output(layer: Layer) -> int:
    return layer.param.inner_product_param.num_output


COUNTERS: dict[str, MacCounter] = {
    "Convolution": _convolution,
    "Deconvolution": _deconvolution,
    "InnerProduct": _inner_product,
}


def count(layer: Layer, inputs: list[Tensor], outputs: list[Tensor]) -> int:
    """Multiply-accumulates one record costs in `layer` (0 for layers not counted)."""
    counter = COUNTERS.get(layer.type)
    return counter(layer, inputs, outputs) if counter else 0
