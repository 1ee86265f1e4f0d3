"""Pooling and SPP, with Caffe's output sizes, last-window rule and AVE divisors, exactly.

Caffe sizes a pooling as ``ceil((in + 2p - k) / s) + 1`` (or floor, with round_mode
FLOOR), then, when there is padding, drops the last window if it would start in the
right padding. Its windows may overhang the padded input; the overhang is clipped. The
AVE divisor is the window clipped to the *padded* extent ``[-p, in + p)``: padding zeros
count, the overhang beyond the padding does not. MAX never picks a padded cell.

ONNX pools with ``ceil_mode`` use other rules for the last window, so the graph always
uses floor mode, with the end padding that makes ONNX produce Caffe's windows exactly.
With that padding every window lies inside ONNX's padded extent, so
``count_include_pad=1`` divides by the full kernel, and ``count_include_pad=0`` by the
real cells; where neither is Caffe's divisor, a constant map corrects the quotient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from caffebatch.caffe.net import Layer
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.converters._checks import ONE, ONE_OR_TWO, expect_blob_counts, refuse
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts

Method = caffe_pb2.PoolingParameter.PoolMethod
FLT_MIN = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class Window:
    """The pooling windows along one spatial axis."""

    size: int  # of the input
    kernel: int
    stride: int
    pad: int
    out: int

    def starts(self) -> np.ndarray:
        return np.arange(self.out) * self.stride - self.pad

    def pad_end(self) -> int:
        """The end padding that makes an ONNX floor-mode pool give exactly these windows."""
        return max(0, (self.out - 1) * self.stride + self.kernel - self.size - self.pad)

    def caffe_divisor(self) -> np.ndarray:
        starts = self.starts()
        divisor: np.ndarray = np.minimum(starts + self.kernel, self.size + self.pad) - starts
        return divisor

    def real_cells(self) -> np.ndarray:
        starts = self.starts()
        cells: np.ndarray = np.minimum(starts + self.kernel, self.size) - np.maximum(starts, 0)
        return cells


def window(
    layer: Layer, axis: str, size: int, kernel: int, stride: int, pad: int, ceil: bool
) -> Window:
    """Caffe's pooling windows along one axis (PoolingLayer::Reshape), checked."""
    if kernel <= 0 or stride <= 0:
        refuse(layer, f"kernel ({kernel}) and stride ({stride}) along {axis} must be positive")
    if pad >= kernel:
        refuse(layer, f"pad ({pad}) must be smaller than the kernel ({kernel}) along {axis}")
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil else span // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1  # Caffe: the last window must start inside the image or the left padding
    if out <= 0:
        refuse(
            layer,
            f"the output would be empty along {axis}: input {size}, kernel {kernel}, pad {pad}",
        )
    last_start = (out - 1) * stride - pad
    if last_start >= size:
        # Only possible without padding and with stride > kernel; Caffe would pool an
        # empty window there (MAX gives -FLT_MAX).
        refuse(
            layer,
            f"the last window along {axis} starts at {last_start}, past the input "
            f"({size}); Caffe would pool an empty window",
        )
    return Window(size, kernel, stride, pad, out)


def _max(g: GraphBuilder, layer: Layer, x: str, windows: tuple[Window, ...], top: str) -> str:
    return g.op("MaxPool", x, output=top, **_attributes(windows))


def _average(g: GraphBuilder, layer: Layer, x: str, windows: tuple[Window, ...], top: str) -> str:
    caffe = _outer([w.caffe_divisor() for w in windows])
    full = np.full_like(caffe, np.prod([w.kernel for w in windows]))
    if np.array_equal(caffe, _outer([w.real_cells() for w in windows])):
        return g.op("AveragePool", x, output=top, count_include_pad=0, **_attributes(windows))
    if np.array_equal(caffe, full):
        return g.op("AveragePool", x, output=top, count_include_pad=1, **_attributes(windows))
    # Some window overhangs the padding: ONNX divides it by the whole kernel, Caffe by less.
    pooled = g.op(
        "AveragePool",
        x,
        output=scratch(g, layer, "pool"),
        count_include_pad=1,
        **_attributes(windows),
    )
    correction = g.floats((full / caffe).astype(np.float32), f"{layer.name}_divisor")
    return g.op("Mul", pooled, correction, output=top)


def _stochastic(
    g: GraphBuilder, layer: Layer, x: str, windows: tuple[Window, ...], top: str
) -> str:
    # At TEST, Caffe (GPU only; its CPU code has none) gives the probability-weighted
    # average sum(x^2) / (FLT_MIN + sum(x)) over each window. The two averages below
    # share their divisor, so their quotient is that ratio.
    squares = g.op("Mul", x, x, output=scratch(g, layer, "squares"))
    attributes = dict(count_include_pad=1, **_attributes(windows))
    weighted = g.op("AveragePool", squares, output=scratch(g, layer, "weighted"), **attributes)
    mass = g.op("AveragePool", x, output=scratch(g, layer, "mass"), **attributes)
    guarded = g.op(
        "Add", mass, g.floats(FLT_MIN, f"{layer.name}_flt_min"), output=scratch(g, layer, "guarded")
    )
    return g.op("Div", weighted, guarded, output=top)


_EMITTERS: dict[int, Callable[[GraphBuilder, Layer, str, tuple[Window, ...], str], str]] = {
    Method.MAX: _max,
    Method.AVE: _average,
    Method.STOCHASTIC: _stochastic,
}
_GLOBAL = {Method.MAX: "GlobalMaxPool", Method.AVE: "GlobalAveragePool"}


def _attributes(windows: tuple[Window, ...]) -> dict[str, list[int]]:
    return {
        "kernel_shape": [w.kernel for w in windows],
        "strides": [w.stride for w in windows],
        "pads": [w.pad for w in windows] + [w.pad_end() for w in windows],
    }


def _outer(factors: list[np.ndarray]) -> np.ndarray:
    outer: np.ndarray = np.multiply.outer(*factors)
    return outer


def pool(
    g: GraphBuilder, layer: Layer, x: Tensor, method: int, windows: tuple[Window, ...], top: str
) -> Tensor:
    """Add the pooling of `x` over `windows` (H and W) with Caffe's `method`; output named `top`."""
    if method not in _EMITTERS:
        refuse(layer, f"unknown pooling method {method}")
    _EMITTERS[method](g, layer, x.name, windows, top)
    return Tensor(top, (*x.shape[:2], *(w.out for w in windows)))


def _windows(layer: Layer, shape: tuple[int, ...]) -> tuple[Window, ...]:
    p = layer.param.pooling_param
    given = {
        f
        for f in (
            "kernel_size",
            "kernel_h",
            "kernel_w",
            "pad_h",
            "pad_w",
            "stride_h",
            "stride_w",
            "pad",
            "stride",
        )
        if p.HasField(f)
    }
    if p.global_pooling:
        if given & {"kernel_size", "kernel_h", "kernel_w"}:
            refuse(layer, "with global_pooling the kernel size cannot be given")
        kernel = shape[2:]
    elif ("kernel_size" in given) == ({"kernel_h", "kernel_w"} <= given):
        refuse(
            layer,
            "give the kernel as kernel_size, or as both kernel_h and kernel_w (not both forms)",
        )
    else:
        kernel = (p.kernel_size,) * 2 if "kernel_size" in given else (p.kernel_h, p.kernel_w)
    pad = _pair(layer, p, "pad", given, p.pad)
    stride = _pair(layer, p, "stride", given, p.stride)
    if p.global_pooling and (pad != (0, 0) or stride != (1, 1)):
        refuse(
            layer,
            f"with global_pooling only pad 0 and stride 1 are allowed, "
            f"got pad {pad}, stride {stride}",
        )
    if pad != (0, 0) and p.pool not in (Method.MAX, Method.AVE):
        refuse(layer, "padding is implemented only for MAX and AVE pooling")
    ceil = _ceil(layer, p)
    return tuple(
        window(layer, axis, shape[2 + i], kernel[i], stride[i], pad[i], ceil)
        for i, axis in enumerate(("height", "width"))
    )


def _ceil(layer: Layer, p: caffe_pb2.PoolingParameter) -> bool:
    # DenseNet-Caffe's fork says ceil_mode: false where BVLC says round_mode: FLOOR.
    if p.HasField("ceil_mode"):
        if p.HasField("round_mode"):
            refuse(layer, "give round_mode (BVLC) or ceil_mode (a fork's), not both")
        return p.ceil_mode
    return p.round_mode == caffe_pb2.PoolingParameter.CEIL


def _pair(
    layer: Layer, p: caffe_pb2.PoolingParameter, field: str, given: set[str], single: int
) -> tuple[int, int]:
    h, w = f"{field}_h", f"{field}_w"
    if h in given or w in given:
        if field in given or not (h in given and w in given):
            refuse(layer, f"give {field}, or both {h} and {w}")
        return (getattr(p, h), getattr(p, w))
    return (single, single)


def _four_d(layer: Layer, inputs: list[Tensor], tops: range = ONE) -> Tensor:
    hint = "" if tops != ONE else "a mask top is only produced by MAX pooling"
    expect_blob_counts(layer, bottoms=ONE, tops=tops, hint=hint)
    x = inputs[0]
    if len(x.shape) != 4:
        refuse(layer, f"the input must have 4 axes (num, channels, height, width), got {x.shape}")
    return x


@converts("Pooling")
def pooling(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe Pooling: MAX (with its mask top), AVE and STOCHASTIC (as at TEST), global, CEIL and FLOOR."""
    method = layer.param.pooling_param.pool
    x = _four_d(layer, inputs, tops=ONE_OR_TWO if method == Method.MAX else ONE)
    windows = _windows(layer, x.shape)
    top = layer.tops[0]
    if len(layer.tops) == 2:
        return _max_with_mask(g, layer, x, windows)
    if layer.param.pooling_param.global_pooling and method in _GLOBAL:
        return [Tensor(g.op(_GLOBAL[method], x.name, output=top), (*x.shape[:2], 1, 1))]
    return [pool(g, layer, x, method, windows, top)]


def _max_with_mask(
    g: GraphBuilder, layer: Layer, x: Tensor, windows: tuple[Window, ...]
) -> list[Tensor]:
    """MAX pooling and Caffe's mask top: each maximum's index h * W + w in its channel plane.

    ONNX MaxPool's indices count over the whole (N, C, H, W) tensor; the plane's index is
    that modulo H * W. Both pick the first maximum in row-major order, as Caffe does.
    """
    pooled, indices = g.node(
        "MaxPool",
        [x.name],
        [layer.tops[0], scratch(g, layer, "indices")],
        **_attributes(windows),
    )
    plane = g.ints([x.shape[2] * x.shape[3]], f"{layer.name}_plane")
    within = g.op("Mod", indices, plane, output=scratch(g, layer, "within"))
    g.op("Cast", within, output=layer.tops[1], to=1)
    shape = (*x.shape[:2], *(w.out for w in windows))
    return [Tensor(pooled, shape), Tensor(layer.tops[1], shape)]


@converts("SPP")
def spatial_pyramid_pooling(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe SPP: level l pools into 2^l x 2^l bins; levels are flattened and concatenated."""
    x = _four_d(layer, inputs)
    p = layer.param.spp_param
    if p.pyramid_height < 1:
        refuse(layer, f"spp_param.pyramid_height must be at least 1, got {p.pyramid_height}")
    top = layer.tops[0]
    if p.pyramid_height == 1:  # Caffe then runs one pooling, without flattening
        return [pool(g, layer, x, p.pool, _level(layer, x.shape, 0), top)]
    flat, width = [], 0
    for level in range(p.pyramid_height):
        pooled = pool(
            g, layer, x, p.pool, _level(layer, x.shape, level), scratch(g, layer, f"level{level}")
        )
        flat.append(g.op("Flatten", pooled.name, output=scratch(g, layer, f"flat{level}"), axis=1))
        width += math.prod(pooled.shape[1:])
    g.op("Concat", *flat, output=top, axis=1)
    return [Tensor(top, (x.shape[0], width))]


def _level(layer: Layer, shape: tuple[int, ...], level: int) -> tuple[Window, ...]:
    # Caffe's SPPLayer::GetPoolingParam: the smallest kernel that covers the input in
    # 2^level steps, with the remainder split as padding (ceil rounding, the default).
    bins = 2**level
    windows = []
    for i, axis in enumerate(("height", "width")):
        size = shape[2 + i]
        kernel = -(-size // bins)
        pad = (kernel * bins - size + 1) // 2
        windows.append(
            window(layer, f"{axis} (pyramid level {level})", size, kernel, kernel, pad, ceil=True)
        )
    return tuple(windows)
