"""BN, the batch normalization layer of Caffe's segmentation forks, with its scale and shift.

Two forks define a layer of this name, and their weights tell them apart:

- alexgkendall/caffe-segnet (and TimoSaemann/caffe-enet, the same file) keeps two blobs,
  scale and shift, each (1, C, 1, 1). In ``bn_mode: INFERENCE`` it computes
  ``scale * x + shift`` (SegNet's compute_bn_statistics.py folds the statistics into
  them); in LEARN mode, the default, it normalizes by the statistics of the batch it is
  given, with a variance ``E(x^2) - E(x)^2`` and an epsilon of 1e-9 fixed in its C++.
- hszhao/PSPNet keeps four blobs, slope, bias, mean and variance, each (1, C, 1, 1), and
  at TEST computes ``slope * (x - mean) / sqrt(variance + eps) + bias``, eps from
  ``bn_param.eps`` (default 1e-5).

A record's result is what the fork gives for that record alone, in a batch of one, so
LEARN mode takes the statistics over the record's own spatial axes.
"""

from __future__ import annotations

import numpy as np

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts

SEGNET_LEARN_EPS = np.float32(1e-9)  # caffe-segnet's bn_layer.cpp: var_eps_ = 1e-9


def _channel_blob(layer: Layer, index: int, shape: tuple[int, ...], what: str) -> np.ndarray:
    # Both forks store (1, C, 1, 1); broadcasting needs (1, C, 1, ...) for the input's rank.
    channels = shape[1]
    array = layer.blob(index, (1, channels, 1, 1), what).reshape(channels)
    return array.reshape((1, channels) + (1,) * (len(shape) - 2))


def _pspnet(layer: Layer, x: Tensor, g: GraphBuilder) -> str:
    slope, bias, mean, variance = (
        _channel_blob(layer, i, x.shape, what)
        for i, what in enumerate(("slope", "bias", "mean", "variance"))
    )
    eps = np.float32(layer.param.bn_param.eps)
    # The fork computes (variance + eps)^-0.5 in float, then multiplies in turn.
    factor = (slope * np.power(variance + eps, np.float32(-0.5))).astype(np.float32)
    centered = g.op("Sub", x.name, g.floats(mean, f"{layer.name}_mean"))
    scaled = g.op("Mul", centered, g.floats(factor, f"{layer.name}_factor"))
    return g.op("Add", scaled, g.floats(bias, f"{layer.name}_bias"), output=layer.tops[0])


def _segnet(layer: Layer, x: Tensor, g: GraphBuilder) -> str:
    scale = g.floats(_channel_blob(layer, 0, x.shape, "scale"), f"{layer.name}_scale")
    shift = g.floats(_channel_blob(layer, 1, x.shape, "shift"), f"{layer.name}_shift")
    value = x.name
    if layer.param.bn_param.bn_mode == caffe_pb2.BNParameter.LEARN:
        axes = list(range(2, len(x.shape)))
        mean = g.op("ReduceMean", value, g.ints(axes, f"{layer.name}_axes"), keepdims=1)
        square = g.op("Mul", value, value, output=scratch(g, layer, "square"))
        mean_square = g.op("ReduceMean", square, g.ints(axes, f"{layer.name}_axes"), keepdims=1)
        variance = g.op("Sub", mean_square, g.op("Mul", mean, mean))
        std = g.op(
            "Sqrt", g.op("Add", variance, g.floats(float(SEGNET_LEARN_EPS), f"{layer.name}_eps"))
        )
        value = g.op("Div", g.op("Sub", value, mean), std, output=scratch(g, layer, "normalized"))
    scaled = g.op("Mul", value, scale, output=scratch(g, layer, "scaled"))
    return g.op("Add", scaled, shift, output=layer.tops[0])


@converts("BN", fork="alexgkendall/caffe-segnet, hszhao/PSPNet")
def bn(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Per-channel scale and shift (SegNet, 2 blobs) or normalization by stored statistics (PSPNet, 4)."""
    x = neuron_bottom(layer, inputs)
    if len(x.shape) < 3:
        refuse(layer, f"needs a bottom with channels and spatial axes, got shape {x.shape}")
    if len(layer.blobs) == 4:
        return [Tensor(_pspnet(layer, x, g), x.shape)]
    if len(layer.blobs) == 2:
        return [Tensor(_segnet(layer, x, g), x.shape)]
    refuse(
        layer,
        f"the weights hold {len(layer.blobs)} blob(s); expected 2 (caffe-segnet: scale, shift) "
        "or 4 (hszhao/PSPNet: slope, bias, mean, variance)",
    )
