"""Convolution and Deconvolution: ONNX Conv and ConvTranspose, which share Caffe's weight layouts.

Caffe's sizes: a convolution's output is ``(in + 2p - extent) // s + 1`` and a
deconvolution's ``s * (in - 1) + extent - 2p``, where ``extent = dilation * (k - 1) + 1``.
Caffe convolves over the axes after ``axis`` (default 1, the channels); the axes before
it are treated as more records, so an ``axis`` above 1 is folded into the batch.
Any number of spatial axes works (ONNX Conv is N-D), as in Caffe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import canonical_axis, refuse, refuse_batch_axis
from caffebatch.compiler.converters._spatial import expect_blobs, per_axis, scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


@dataclass(frozen=True)
class Geometry:
    """What Caffe's BaseConvolutionLayer reads from convolution_param, checked."""

    axis: int  # the channel axis
    channels: int
    num_output: int
    group: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pad: tuple[int, ...]
    dilation: tuple[int, ...]
    bias_term: bool

    def extent(self, i: int) -> int:
        """The span of the dilated kernel along spatial axis `i`."""
        return self.dilation[i] * (self.kernel[i] - 1) + 1


def _sizes(
    layer: Layer,
    p: caffe_pb2.ConvolutionParameter,
    field: str,
    hw: str,
    default: int | None,
    axes: int,
) -> tuple[int, ...]:
    h, w = f"{hw}_h", f"{hw}_w"
    return per_axis(
        layer,
        field,
        getattr(p, field),
        (p.HasField(h), getattr(p, h)),
        (p.HasField(w), getattr(p, w)),
        default,
        axes,
    )


def geometry(
    layer: Layer, shape: tuple[int, ...], p: caffe_pb2.ConvolutionParameter | None = None
) -> Geometry:
    """Read and check convolution_param (or `p`) for an input of `shape`, as Caffe's LayerSetUp."""
    p = layer.param.convolution_param if p is None else p
    axis = canonical_axis(layer, "convolution_param.axis", p.axis, len(shape))
    if axis == 0:
        refuse_batch_axis(
            layer,
            "a convolution with convolution_param.axis 0 (its weights would span the records)",
        )
    axes = len(shape) - axis - 1
    if axes < 1:
        refuse(
            layer, f"needs a spatial axis after the channel axis {axis}; the input shape is {shape}"
        )
    kernel = _sizes(layer, p, "kernel_size", "kernel", None, axes)
    stride = _sizes(layer, p, "stride", "stride", 1, axes)
    pad = _sizes(layer, p, "pad", "pad", 0, axes)
    dilation = per_axis(layer, "dilation", p.dilation, (False, 0), (False, 0), 1, axes)
    for field, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(values) <= 0:
            refuse(layer, f"convolution_param.{field} must be positive, got {values}")
    channels = shape[axis]
    if p.num_output <= 0:
        refuse(layer, "convolution_param.num_output must be positive")
    if p.group <= 0 or channels % p.group or p.num_output % p.group:
        refuse(
            layer,
            f"convolution_param.group {p.group} must divide the input channels "
            f"({channels}) and num_output ({p.num_output})",
        )
    return Geometry(
        axis, channels, p.num_output, p.group, kernel, stride, pad, dilation, p.bias_term
    )


def _conv_size(layer: Layer, geo: Geometry, i: int, size: int) -> int:
    padded = size + 2 * geo.pad[i]
    if padded < geo.extent(i):
        refuse(
            layer,
            f"the kernel (extent {geo.extent(i)}) is larger than the padded input "
            f"({padded}) along spatial axis {i}",
        )
    return (padded - geo.extent(i)) // geo.stride[i] + 1


def _deconv_size(layer: Layer, geo: Geometry, i: int, size: int) -> int:
    out = geo.stride[i] * (size - 1) + geo.extent(i) - 2 * geo.pad[i]
    if out <= 0:
        refuse(
            layer, f"the output would be empty along spatial axis {i} (pad {geo.pad[i]} too large)"
        )
    return out


@dataclass(frozen=True)
class _Kind:
    op: str
    size: Callable[[Layer, Geometry, int, int], int]
    weight_shape: Callable[[Geometry], tuple[int, ...]]


_KINDS = {
    "Convolution": _Kind(
        "Conv", _conv_size, lambda g: (g.num_output, g.channels // g.group, *g.kernel)
    ),
    "Deconvolution": _Kind(
        "ConvTranspose", _deconv_size, lambda g: (g.channels, g.num_output // g.group, *g.kernel)
    ),
}


@converts("Convolution", "Deconvolution")
def convolution(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe Convolution / Deconvolution; several bottoms share the weights, one top each."""
    return convolve(layer, inputs, g, layer.param.convolution_param, _KINDS[layer.type])


def convolve(
    layer: Layer,
    inputs: list[Tensor],
    g: GraphBuilder,
    param: caffe_pb2.ConvolutionParameter,
    kind: _Kind = _KINDS["Convolution"],
) -> list[Tensor]:
    """The convolution of `inputs` that `param` describes (for layers that derive it)."""
    shape = inputs[0].shape
    if len(inputs) != len(layer.tops) or any(t.shape != shape for t in inputs):
        refuse(
            layer,
            f"needs one top per bottom and bottoms of one shape; got "
            f"{[t.shape for t in inputs]} -> {len(layer.tops)} top(s)",
        )
    geo = geometry(layer, shape, param)
    expect_blobs(layer, 1 + geo.bias_term)
    weights = [
        g.initializer(layer.blob(0, kind.weight_shape(geo), "weight"), f"{layer.name}_weight")
    ]
    if geo.bias_term:
        weights.append(
            g.initializer(layer.blob(1, (geo.num_output,), "bias"), f"{layer.name}_bias")
        )
    spatial = shape[geo.axis + 1 :]
    out_spatial = tuple(kind.size(layer, geo, i, size) for i, size in enumerate(spatial))
    out_shape = (*shape[: geo.axis], geo.num_output, *out_spatial)
    attributes = {
        "kernel_shape": list(geo.kernel),
        "strides": list(geo.stride),
        "pads": list(geo.pad) * 2,
        "dilations": list(geo.dilation),
        "group": geo.group,
    }
    outputs = []
    for bottom, top in zip(inputs, layer.tops, strict=True):
        x = bottom.name
        folded = geo.axis > 1
        if folded:
            x = g.op(
                "Reshape",
                x,
                g.ints([-1, geo.channels, *spatial], f"{layer.name}_fold"),
                output=scratch(g, layer, "folded"),
            )
        y = g.op(
            kind.op,
            x,
            *weights,
            output=scratch(g, layer, "unfolded") if folded else top,
            **attributes,
        )
        if folded:
            g.op("Reshape", y, g.ints([-1, *out_shape[1:]], f"{layer.name}_unfold"), output=top)
        outputs.append(Tensor(top, out_shape))
    return outputs
