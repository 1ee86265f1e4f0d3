"""Upsample and Interp: the resizing layers of Caffe's segmentation and detection forks.

``Upsample`` is two layers under one name. With two bottoms it is caffe-segnet's
max-unpooling: each value of bottom 0 goes to the position that bottom 1 (the mask top of
a MAX Pooling: ``h * W + w`` within the channel plane) names in an output of zeros. With
one bottom it is caffe-yolov3's nearest-neighbour upsampling by an integer ``scale``.

``Interp`` is hszhao/PSPNet's bilinear resize (from DeepLab v2), with aligned corners:
output row ``i`` reads input row ``i * (in - 1) / (out - 1)``, the ratio computed in float
as the C++ does. It is compiled to two constant interpolation matrices, so the weights are
the fork's exactly, whatever the sizes (an output of one row reads row 0).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import refuse
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _four_d(layer: Layer, x: Tensor, what: str) -> None:
    if len(x.shape) != 4:
        refuse(layer, f"{what} must have 4 axes (num, channels, height, width), got {x.shape}")


def _unpooled_size(layer: Layer, shape: tuple[int, ...]) -> tuple[int, int]:
    """caffe-segnet UpsampleLayer::LayerSetUp and Reshape: the output height and width."""
    p = layer.param.upsample_param
    if p.HasField("upsample_h") and p.HasField("upsample_w"):
        if p.upsample_h <= 1 or p.upsample_w <= 1:
            refuse(
                layer,
                f"upsample_h and upsample_w must exceed 1, got {p.upsample_h}, {p.upsample_w}",
            )
        return p.upsample_h, p.upsample_w
    if p.HasField("scale_h") or p.HasField("scale_w"):
        if p.HasField("scale") or not (p.HasField("scale_h") and p.HasField("scale_w")):
            refuse(layer, "give upsample_h and upsample_w, or scale, or both scale_h and scale_w")
        scale = (p.scale_h, p.scale_w)
    else:
        scale = (p.scale, p.scale)
    if min(scale) <= 1:
        refuse(layer, f"the upsampling scale must exceed 1, got {scale}")
    pad_out = (p.pad_out_h, p.pad_out_w)
    for axis, factor, pad in zip(("h", "w"), scale, pad_out, strict=True):
        if pad and factor != 2:
            refuse(layer, f"pad_out_{axis} needs a scale of 2 along that axis, got {factor}")
    return shape[2] * scale[0] - pad_out[0], shape[3] * scale[1] - pad_out[1]


def _unpool(layer: Layer, x: Tensor, mask: Tensor, g: GraphBuilder) -> list[Tensor]:
    _four_d(layer, x, "bottom 0")
    if mask.shape != x.shape:
        refuse(layer, f"the mask (bottom 1) has shape {mask.shape}, the values {x.shape}")
    height, width = _unpooled_size(layer, x.shape)
    flat = g.ints([0, 0, -1], f"{layer.name}_flat")
    values = g.op("Reshape", x.name, flat, output=scratch(g, layer, "values"))
    # Caffe keeps the mask as floats; the positions are exact integers below 2^24.
    positions = g.op("Cast", g.op("Reshape", mask.name, flat), to=7)
    planes = g.op("Slice", g.op("Shape", x.name), g.ints([0], "start"), g.ints([2], "end"))
    size = g.op("Concat", planes, g.ints([height * width], f"{layer.name}_plane"), axis=0)
    zeros = g.op(
        "ConstantOfShape", size, value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    )
    # Overlapping windows can name a position twice; the fork's loop keeps the last write,
    # as ONNX Runtime's ScatterElements does.
    scattered = g.op("ScatterElements", zeros, positions, values, axis=2)
    shape = g.ints([0, 0, height, width], f"{layer.name}_shape")
    top = g.op("Reshape", scattered, shape, output=layer.tops[0])
    return [Tensor(top, (*x.shape[:2], height, width))]


def _nearest(layer: Layer, x: Tensor, g: GraphBuilder) -> list[Tensor]:
    p = layer.param.upsample_param
    extra = [
        f
        for f in ("scale_h", "scale_w", "pad_out_h", "pad_out_w", "upsample_h", "upsample_w")
        if p.HasField(f)
    ]
    if extra:
        refuse(layer, f"with one bottom (nearest upsampling) only scale is read, got {extra}")
    _four_d(layer, x, "the bottom")
    # caffe-yolov3's scale is an int32 that defaults to 1; caffe-segnet's (the schema's) to 2.
    scale = p.scale if p.HasField("scale") else 1
    if scale < 1:
        refuse(layer, f"upsample_param.scale must be at least 1, got {scale}")
    scales = g.floats([1.0, 1.0, float(scale), float(scale)], f"{layer.name}_scales")
    top = g.op(
        "Resize",
        x.name,
        "",
        scales,
        output=layer.tops[0],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return [Tensor(top, (*x.shape[:2], x.shape[2] * scale, x.shape[3] * scale))]


@converts("Upsample", fork="alexgkendall/caffe-segnet, ChenYingpeng/caffe-yolov3")
def upsample(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Max-unpooling by a Pooling mask (two bottoms, SegNet) or nearest upsampling (one, YOLOv3)."""
    if len(layer.tops) != 1 or len(inputs) not in (1, 2):
        refuse(layer, f"takes 1 or 2 bottoms and 1 top, got {len(inputs)} and {len(layer.tops)}")
    if len(inputs) == 2:
        return _unpool(layer, inputs[0], inputs[1], g)
    return _nearest(layer, inputs[0], g)


# ---------------------------------------------------------------------------
# Interp


def interp_matrix(size_in: int, size_out: int, offset: int, full: int) -> np.ndarray:
    """The (size_out, full) matrix of caffe_cpu_interp2 along one axis, in float32.

    The input is the `size_in` cells from `offset` of an axis of `full` cells (the crop
    that negative pad_beg / pad_end make).
    """
    matrix = np.zeros((size_out, full), dtype=np.float32)
    if size_in == size_out:
        matrix[np.arange(size_out), offset + np.arange(size_out)] = 1
        return matrix
    ratio = np.float32(size_in - 1) / np.float32(size_out - 1) if size_out > 1 else np.float32(0)
    for i in range(size_out):
        position = np.float32(ratio * np.float32(i))
        low = int(position)
        step = 1 if low < size_in - 1 else 0
        high_weight = np.float32(position - np.float32(low))
        matrix[i, offset + low] += np.float32(1) - high_weight
        matrix[i, offset + low + step] += high_weight
    return matrix


def _interp_size(layer: Layer, inputs: list[Tensor], effective: tuple[int, int]) -> tuple[int, int]:
    """InterpLayer::Reshape (DeepLab v2's order of precedence): the output height and width."""
    p = layer.param.interp_param
    zoom, shrink = p.HasField("zoom_factor"), p.HasField("shrink_factor")
    sized = p.HasField("height") and p.HasField("width")
    if len(inputs) == 2:
        if zoom or shrink or p.HasField("height") or p.HasField("width"):
            refuse(
                layer, "with a second bottom, give no zoom_factor, shrink_factor, height or width"
            )
        return inputs[1].shape[2], inputs[1].shape[3]
    if zoom and p.zoom_factor < 1 or shrink and p.shrink_factor < 1:
        refuse(
            layer,
            f"zoom_factor and shrink_factor must be at least 1, got {p.zoom_factor}, {p.shrink_factor}",
        )

    def shrunk(size: int) -> int:
        return (size - 1) // p.shrink_factor + 1

    def zoomed(size: int) -> int:
        return size + (size - 1) * (p.zoom_factor - 1)

    height, width = effective
    if shrink and not zoom:
        return shrunk(height), shrunk(width)
    if zoom and not shrink:
        return zoomed(height), zoomed(width)
    if sized:
        return p.height, p.width
    if shrink and zoom:  # shrink first, then zoom the shrunk size
        return zoomed(shrunk(height)), zoomed(shrunk(width))
    refuse(
        layer,
        "give the output size: zoom_factor, shrink_factor, both height and width, "
        "or a second bottom",
    )


@converts("Interp", fork="hszhao/PSPNet")
def interp(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Bilinear resize with aligned corners, by zoom_factor, shrink_factor, height/width or a bottom."""
    if len(layer.tops) != 1 or len(inputs) not in (1, 2):
        refuse(layer, f"takes 1 or 2 bottoms and 1 top, got {len(inputs)} and {len(layer.tops)}")
    x = inputs[0]
    _four_d(layer, x, "bottom 0")
    p = layer.param.interp_param
    if p.pad_beg > 0 or p.pad_end > 0:
        refuse(
            layer,
            f"only supports non-positive pad_beg and pad_end (cropping), got {p.pad_beg}, {p.pad_end}",
        )
    effective = (x.shape[2] + p.pad_beg + p.pad_end, x.shape[3] + p.pad_beg + p.pad_end)
    if min(effective) <= 0:
        refuse(layer, f"pad_beg and pad_end crop away the whole input {x.shape[2:]}")
    out = _interp_size(layer, inputs, effective)
    if min(out) <= 0:
        refuse(layer, f"the output size must be positive, got {out}")
    rows = interp_matrix(effective[0], out[0], -p.pad_beg, x.shape[2])
    columns = interp_matrix(effective[1], out[1], -p.pad_beg, x.shape[3]).T
    resized = g.op(
        "MatMul", g.floats(rows, f"{layer.name}_rows"), x.name, output=scratch(g, layer, "rows")
    )
    top = g.op("MatMul", resized, g.floats(columns, f"{layer.name}_columns"), output=layer.tops[0])
    return [Tensor(top, (*x.shape[:2], *out))]
