"""LRN, MVN and BatchNorm, as Caffe computes them at TEST.

LRN across channels is expressed through ops with fast kernels instead of ONNX's LRN op,
which ONNX Runtime runs slowly (on GoogLeNet-sized tensors the form below is 3.5-6x
faster): the window sum of squares over channels is a 1x1 convolution with a fixed
banded weight, and the power 0.75 is two square roots.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.converters._spatial import expect_blobs, scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _sqrt_of_sqrt(g: GraphBuilder, layer: Layer, s: str) -> str:
    root = g.op("Sqrt", s, output=scratch(g, layer, "sqrt"))
    fourth = g.op("Sqrt", root, output=scratch(g, layer, "fourth_root"))
    return g.op("Mul", root, fourth, output=scratch(g, layer, "power"))


# s ** beta for the exponents models use, through ops faster than Pow
_POWERS: dict[float, Callable[[GraphBuilder, Layer, str], str]] = {
    1.0: lambda g, layer, s: s,
    0.5: lambda g, layer, s: g.op("Sqrt", s, output=scratch(g, layer, "power")),
    0.75: _sqrt_of_sqrt,
}


def _power(g: GraphBuilder, layer: Layer, s: str, beta: float) -> str:
    if beta in _POWERS:
        return _POWERS[beta](g, layer, s)
    return g.op("Pow", s, g.floats(beta, f"{layer.name}_beta"), output=scratch(g, layer, "power"))


def _across_channels(g: GraphBuilder, layer: Layer, x: Tensor, p: caffe_pb2.LRNParameter) -> str:
    # scale = k + alpha / n * (sum of x^2 over the n channels centred on c, zero padded)
    channels, half = x.shape[1], (p.local_size - 1) // 2
    band = np.zeros((channels, channels, 1, 1), np.float32)
    for c in range(channels):
        band[c, max(0, c - half) : c + half + 1] = p.alpha / p.local_size
    squares = g.op("Mul", x.name, x.name, output=scratch(g, layer, "squares"))
    return g.op(
        "Conv",
        squares,
        g.initializer(band, f"{layer.name}_band"),
        g.floats(np.full(channels, p.k), f"{layer.name}_k"),
        output=scratch(g, layer, "scale"),
        kernel_shape=[1, 1],
    )


def _within_channel(g: GraphBuilder, layer: Layer, x: Tensor, p: caffe_pb2.LRNParameter) -> str:
    # Caffe builds it from layers: square, AVE pooling (n x n, stride 1, pad (n-1)/2, so
    # every divisor is n*n), then Power(scale=alpha, shift=1). It uses 1, not k.
    half = (p.local_size - 1) // 2
    squares = g.op("Mul", x.name, x.name, output=scratch(g, layer, "squares"))
    mean = g.op(
        "AveragePool",
        squares,
        output=scratch(g, layer, "mean"),
        kernel_shape=[p.local_size] * 2,
        pads=[half] * 4,
        count_include_pad=1,
    )
    scaled = g.op(
        "Mul", mean, g.floats(p.alpha, f"{layer.name}_alpha"), output=scratch(g, layer, "scaled")
    )
    return g.op(
        "Add", scaled, g.floats(1.0, f"{layer.name}_one"), output=scratch(g, layer, "scale")
    )


_REGIONS = {
    caffe_pb2.LRNParameter.ACROSS_CHANNELS: _across_channels,
    caffe_pb2.LRNParameter.WITHIN_CHANNEL: _within_channel,
}


@converts("LRN")
def local_response_normalization(
    layer: Layer, inputs: list[Tensor], g: GraphBuilder
) -> list[Tensor]:
    """Caffe LRN: y = x / scale ** beta, with the scale of the layer's norm_region."""
    x = neuron_bottom(layer, inputs)
    p = layer.param.lrn_param
    if p.local_size % 2 == 0:
        refuse(layer, f"lrn_param.local_size must be odd, got {p.local_size}")
    if len(x.shape) != 4:
        refuse(layer, f"the input must have 4 axes (num, channels, height, width), got {x.shape}")
    scale = _REGIONS[p.norm_region](g, layer, x, p)
    g.op("Div", x.name, _power(g, layer, scale, p.beta), output=layer.tops[0])
    return [Tensor(layer.tops[0], x.shape)]


@converts("MVN")
def mean_variance_normalization(
    layer: Layer, inputs: list[Tensor], g: GraphBuilder
) -> list[Tensor]:
    """Caffe MVN: y = (x - mean) / (sqrt(var) + eps) per record and channel (or across)."""
    x = neuron_bottom(layer, inputs)
    p = layer.param.mvn_param
    if len(x.shape) > 4:
        refuse(layer, f"Caffe's MVN takes at most 4 axes, the input has shape {x.shape}")
    top = layer.tops[0]
    axes = list(range(1 if p.across_channels else 2, len(x.shape)))
    if not axes:  # one value per group: Caffe's result is x - x
        g.op("Sub", x.name, x.name, output=top)
        return [Tensor(top, x.shape)]
    mean = g.op(
        "ReduceMean", x.name, g.ints(axes, f"{layer.name}_axes"), output=scratch(g, layer, "mean")
    )
    centred = g.op(
        "Sub", x.name, mean, output=scratch(g, layer, "centred") if p.normalize_variance else top
    )
    if p.normalize_variance:
        squares = g.op("Mul", centred, centred, output=scratch(g, layer, "squares"))
        variance = g.op(
            "ReduceMean",
            squares,
            g.ints(axes, f"{layer.name}_axes"),
            output=scratch(g, layer, "var"),
        )
        deviation = g.op("Sqrt", variance, output=scratch(g, layer, "std"))
        # Caffe adds eps to the standard deviation, not to the variance
        guarded = g.op(
            "Add",
            deviation,
            g.floats(p.eps, f"{layer.name}_eps"),
            output=scratch(g, layer, "std_eps"),
        )
        g.op("Div", centred, guarded, output=top)
    return [Tensor(top, x.shape)]


@converts("BatchNorm")
def batch_norm(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe BatchNorm with its stored statistics: blobs (mean * f, variance * f, f)."""
    x = neuron_bottom(layer, inputs)
    p = layer.param.batch_norm_param
    if p.HasField("use_global_stats") and not p.use_global_stats:
        refuse(
            layer,
            "batch_norm_param.use_global_stats: false makes Caffe normalise with the statistics "
            "of the batch being scored, which ties the records of a batch together; remove it "
            "(Caffe then uses the trained statistics at TEST) to score with caffebatch",
        )
    if len(x.shape) < 2:
        refuse(layer, f"the input needs a channel axis, got shape {x.shape}")
    channels = x.shape[1]
    expect_blobs(layer, 3)
    factor = layer.blob(2, (1,), "moving-average factor")[0]
    # Caffe scales by 1/f in float, and by 0 when f is 0 (untrained statistics)
    scale = np.float32(0.0) if factor == 0 else np.float32(1.0) / factor
    mean = layer.blob(0, (channels,), "mean") * scale
    variance = layer.blob(1, (channels,), "variance") * scale
    g.op(
        "BatchNormalization",
        x.name,
        g.floats(np.ones(channels), f"{layer.name}_gamma"),
        g.floats(np.zeros(channels), f"{layer.name}_beta"),
        g.floats(mean, f"{layer.name}_mean"),
        g.floats(variance, f"{layer.name}_var"),
        output=layer.tops[0],
        epsilon=p.eps,
    )
    return [Tensor(layer.tops[0], x.shape)]
