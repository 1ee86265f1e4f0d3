"""Deterministic weights of the right shapes for a real-world deploy net, and the files to run it.

The shapes come from walking the net with caffebatch's own converters (each layer's
weights are generated from its parameters and its bottoms' shapes, then the converter
gives its tops' shapes). Values are drawn so that activations stay of order one:
filters scaled to the second moment of what they read (gains.py: He's gain after a
rectifier, LeCun's after a linear layer), scales near 1, normalization statistics
measured on the net's own activations (calibrate.py) and SSD heads rescaled to a trained
head's spread (ssd_heads.py).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable

import numpy as np

from caffebatch.caffe.net import Layer, Net
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters.convolution import geometry
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converter_for
from tests.realworld.calibrate import calibrate
from tests.realworld.gains import filter_gains
from tests.realworld.ssd_heads import rescale_heads

Shape = tuple[int, ...]
Blobs = list[np.ndarray]
Rng = np.random.Generator


def _filters(rng: np.random.Generator, shape: Shape, fan_in: int, gain: float) -> np.ndarray:
    return rng.normal(0, math.sqrt(gain / max(fan_in, 1)), shape)


def _small(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.normal(0, 0.1, shape)


def _near_one(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.uniform(0.5, 1.5, shape)


def _convolution(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    geo = geometry(layer, shapes[0])
    if layer.type == "Deconvolution":
        weight = (geo.channels, geo.num_output // geo.group, *geo.kernel)
        fan_in = geo.channels * math.prod(geo.kernel) // max(math.prod(geo.stride), 1)
    else:
        weight = (geo.num_output, geo.channels // geo.group, *geo.kernel)
        fan_in = math.prod(weight[1:])
    blobs = [_filters(rng, weight, fan_in, gain)]
    return blobs + ([_small(rng, (geo.num_output,))] if geo.bias_term else [])


def _depthwise(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    p = layer.param.convolution_param
    kernel = (p.kernel_h, p.kernel_w) if p.HasField("kernel_h") else (p.kernel_size[0],) * 2
    channels = shapes[0][1]
    blobs = [_filters(rng, (channels, 1, *kernel), math.prod(kernel), gain)]
    return blobs + ([_small(rng, (channels,))] if p.bias_term else [])


def _inner_product(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    p = layer.param.inner_product_param
    axis = p.axis % len(shapes[0])
    inputs = math.prod(shapes[0][axis:])
    weight = (inputs, p.num_output) if p.transpose else (p.num_output, inputs)
    blobs = [_filters(rng, weight, inputs, gain)]
    return blobs + ([_small(rng, (p.num_output,))] if p.bias_term else [])


def _batch_norm(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    channels = shapes[0][1]
    return [_small(rng, (channels,)), _near_one(rng, (channels,)), np.ones(1)]


def _affine_shape(shape: Shape, axis: int, num_axes: int) -> Shape:
    axis %= len(shape)
    return shape[axis:] if num_axes == -1 else shape[axis : axis + num_axes]


def _scale(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    p = layer.param.scale_param
    if len(shapes) > 1:  # the scale is bottom 1; only a bias is learned, of its shape
        return [_small(rng, shapes[1])] if p.bias_term else []
    shape = _affine_shape(shapes[0], p.axis, p.num_axes)
    return [_near_one(rng, shape)] + ([_small(rng, shape)] if p.bias_term else [])


def _bias(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    if len(shapes) > 1:
        return []
    p = layer.param.bias_param
    return [_small(rng, _affine_shape(shapes[0], p.axis, p.num_axes))]


def _prelu(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    shape = () if layer.param.prelu_param.channel_shared else (shapes[0][1],)
    return [rng.uniform(0, 0.3, shape)]


def _bn(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    channel = (1, shapes[0][1], 1, 1)
    p = layer.param.bn_param
    if p.HasField("bn_mode") or p.HasField("scale_filler") or p.HasField("shift_filler"):
        return [_near_one(rng, channel), _small(rng, channel)]  # caffe-segnet: scale, shift
    # hszhao/PSPNet: slope, bias, mean, variance
    return [
        _near_one(rng, channel),
        _small(rng, channel),
        _small(rng, channel),
        _near_one(rng, channel),
    ]


def _normalize(layer: Layer, shapes: list[Shape], rng: Rng, gain: float) -> Blobs:
    shared = layer.param.norm_param.channel_shared
    return [_near_one(rng, (1,) if shared else (shapes[0][1],)) * 10]


# `gain` is a filter's variance times its fan-in (gains.py)
GENERATORS: dict[str, Callable[[Layer, list[Shape], Rng, float], Blobs]] = {
    "Convolution": _convolution,
    "Deconvolution": _convolution,
    "ConvolutionDepthwise": _depthwise,
    "InnerProduct": _inner_product,
    "BatchNorm": _batch_norm,
    "Scale": _scale,
    "Bias": _bias,
    "PReLU": _prelu,
    "BN": _bn,
    "Normalize": _normalize,
}


def generate(net: Net, seed_name: str) -> dict[str, Blobs]:
    """Float32 weights per layer name (the first layer of a name, as Caffe assigns them)."""
    rng = np.random.default_rng(zlib.crc32(seed_name.encode()))
    g = GraphBuilder()
    values = {name: Tensor(name, shape) for name, shape in net.inputs.items()}
    weights: dict[str, Blobs] = {}
    gains = filter_gains(net)
    for layer in net.layers:
        bottoms = [values[b] for b in layer.bottoms]
        blobs = weights.get(layer.name)
        if blobs is None and layer.type in GENERATORS:
            blobs = [
                b.astype(np.float32)
                for b in GENERATORS[layer.type](
                    layer, [b.shape for b in bottoms], rng, gains[layer.name]
                )
            ]
            weights[layer.name] = blobs
        with_blobs = dataclasses.replace(layer, blobs=tuple(blobs or ()))
        for top in converter_for(layer.type)(with_blobs, bottoms, g):
            values[top.name] = top
    return rescale_heads(net, calibrate(net, weights, rng), rng)


def weights_file(weights: dict[str, Blobs], types: dict[str, str]) -> bytes:
    """A .caffemodel holding `weights` (name, type and blobs only)."""
    net = caffe_pb2.NetParameter()
    for name, blobs in weights.items():
        layer = net.layer.add(name=name, type=types[name])
        for array in blobs:
            layer.blobs.add(shape={"dim": list(array.shape)}, data=array.ravel().tolist())
    return net.SerializeToString()
