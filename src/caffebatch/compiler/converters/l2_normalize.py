"""Normalize (weiliu89/caffe, SSD): L2 normalization with a learned scale, as on conv4_3."""

from __future__ import annotations

import numpy as np

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.converters._forks import SSD
from caffebatch.compiler.converters._spatial import expect_blobs, scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _scale(layer: Layer, count: int, what: str) -> np.ndarray:
    # NormalizeLayer::LayerSetUp checks only the count of the scale blob, not its shape
    if not layer.blobs:
        refuse(layer, f"the weights hold no blob; the scale ({what}) is missing")
    values = np.asarray(layer.blobs[0], dtype=np.float32)
    if values.size != count:
        refuse(layer, f"the scale (blob 0) holds {values.size} values, expected {count} ({what})")
    return values


@converts("Normalize", fork=SSD)
def normalize(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """x / sqrt(sum of x^2 + eps), over each position's channels or the whole record, times scale.

    As NormalizeLayer::Forward_cpu: eps is added inside the square root; across_spatial
    sums over all of a record's values, otherwise over the channels at each position; the
    learned scale is one value (channel_shared) or one per channel.
    """
    x = neuron_bottom(layer, inputs)
    p = layer.param.norm_param
    if not 2 <= len(x.shape) <= 4:
        # Caffe reads the blob through num/channels/height/width, which stop at 4 axes
        refuse(layer, f"takes a 2-D to 4-D bottom, got {len(x.shape)} axes: {x.shape}")
    channels = x.shape[1]
    expect_blobs(layer, 1)
    if p.channel_shared:
        scale = _scale(layer, 1, "norm_param.channel_shared: one value").reshape(())
    else:
        per_channel = (channels,) + (1,) * (len(x.shape) - 2)
        scale = _scale(layer, channels, "one per channel").reshape(per_channel)
    axes = list(range(1, len(x.shape))) if p.across_spatial else [1]
    squares = g.op(
        "ReduceSumSquare",
        x.name,
        g.ints(axes, f"{layer.name}_axes"),
        output=scratch(g, layer, "sum_squares"),
        keepdims=1,
    )
    padded = g.op(
        "Add", squares, g.floats(p.eps, f"{layer.name}_eps"), output=scratch(g, layer, "plus_eps")
    )
    norm = g.op("Sqrt", padded, output=scratch(g, layer, "norm"))
    normalized = g.op("Div", x.name, norm, output=scratch(g, layer, "normalized"))
    scaled = g.op("Mul", normalized, g.floats(scale, f"{layer.name}_scale"), output=layer.tops[0])
    return [Tensor(scaled, x.shape)]
