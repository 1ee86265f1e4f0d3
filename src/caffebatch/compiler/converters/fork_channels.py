"""Channel layers of Caffe's mobile-net forks: ShuffleChannel, ConvolutionDepthwise, Axpy, ReLU6."""

from __future__ import annotations

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.converters.convolution import convolve
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


@converts("ShuffleChannel", fork="farmingyard/ShuffleNet")
def shuffle_channel(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Channels as a (group, C / group) grid, transposed: out channel i * group + j is in j * (C / group) + i."""
    x = neuron_bottom(layer, inputs)
    group = layer.param.shuffle_channel_param.group
    if len(x.shape) < 2 or group < 1 or x.shape[1] % group:
        refuse(layer, f"shuffle_channel_param.group {group} must divide the channels of {x.shape}")
    rest = list(x.shape[2:])
    grid = g.ints([0, group, x.shape[1] // group, *rest], f"{layer.name}_grid")
    split = g.op("Reshape", x.name, grid, output=scratch(g, layer, "grid"))
    order = [0, 2, 1, *range(3, len(x.shape) + 1)]
    swapped = g.op("Transpose", split, output=scratch(g, layer, "swapped"), perm=order)
    top = g.op(
        "Reshape", swapped, g.ints([0, *x.shape[1:]], f"{layer.name}_shape"), output=layer.tops[0]
    )
    return [Tensor(top, x.shape)]


@converts("ConvolutionDepthwise", fork="farmingyard/ShuffleNet, yonghenglh6/DepthwiseConvolution")
def convolution_depthwise(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Each channel convolved with its own (1, kh, kw) filter; num_output and group are ignored."""
    if len(inputs) != 1 or len(layer.tops) != 1 or len(inputs[0].shape) != 4:
        refuse(layer, "takes one 4-D bottom (num, channels, height, width) and one top")
    channels = inputs[0].shape[1]
    # The fork's LayerSetUp sizes the filters by the input's channels alone.
    param = caffe_pb2.ConvolutionParameter()
    param.CopyFrom(layer.param.convolution_param)
    param.num_output = channels
    param.group = channels
    param.axis = 1
    return convolve(layer, inputs, g, param)


@converts("Axpy", fork="hujie-frank/SENet")
def axpy(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """top = a * x + y, with bottoms a (N, C, 1, 1), x and y (N, C, H, W): a scales each channel."""
    if len(inputs) != 3 or len(layer.tops) != 1:
        refuse(
            layer, f"takes 3 bottoms (a, x, y) and 1 top, got {len(inputs)} and {len(layer.tops)}"
        )
    a, x, y = inputs
    if x.shape != y.shape or len(x.shape) < 2:
        refuse(
            layer, f"x (bottom 1) and y (bottom 2) must have one shape, got {x.shape} and {y.shape}"
        )
    # SENet's axpy_layer.cpp: a is (N, C) or (N, C, 1, 1), the channels of x.
    if (
        a.shape[:2] != x.shape[:2]
        or any(d != 1 for d in a.shape[2:])
        or len(a.shape) > len(x.shape)
    ):
        refuse(
            layer,
            f"a (bottom 0) must be (N, C) or (N, C, 1, 1) for x of shape {x.shape}, got {a.shape}",
        )
    scale = a.name
    if len(a.shape) < len(x.shape):
        expand = g.ints([0, 0, *[1] * (len(x.shape) - 2)], f"{layer.name}_expand")
        scale = g.op("Reshape", a.name, expand, output=scratch(g, layer, "a"))
    scaled = g.op("Mul", scale, x.name, output=scratch(g, layer, "ax"))
    return [Tensor(g.op("Add", scaled, y.name, output=layer.tops[0]), x.shape)]


@converts("ReLU6", fork="chuanqi305/ssd")
def relu6(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = min(max(x, 0), 6)."""
    x = neuron_bottom(layer, inputs)
    low = g.floats(0.0, f"{layer.name}_low")
    high = g.floats(6.0, f"{layer.name}_high")
    return [Tensor(g.op("Clip", x.name, low, high, output=layer.tops[0]), x.shape)]
