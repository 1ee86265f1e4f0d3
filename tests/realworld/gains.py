"""The gain of each generated filter, from the second moment of what it reads.

A filter drawn with variance gain / fan_in multiplies its input's second moment E[x^2]
by gain, so gain = 1 / E[x^2] keeps every filter's output of order one. That is He's
gain of 2 after a rectifier (which keeps half its input's second moment) and LeCun's
gain of 1 after a linear layer, but told apart per layer: a fixed He gain on a linear
input doubles its scale. MobileNetV2's expand convolutions read linear bottlenecks and
residual sums; with He's gain they drove ReLU6 to saturation and float32 rounding grew
1.3x per inverted-residual block, past the tolerance at SSDLite's heads.

The moments are followed through the net as the generated weights leave it before
calibration (calibrate.py measures its normalizations on that net, with their drawn,
near-identity statistics): every filter's output has moment 1, a rectifier halves it, a
residual sum adds its terms', and layers that only move, pool or rescale values by about
one pass the largest of their bottoms'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from caffebatch.caffe.net import Layer, Net
from caffebatch.caffe.proto import caffe_pb2

# What the tests feed: uniform on [-1, 1]
INPUT_MOMENT = 1 / 3


def _rectifier(layer: Layer, moments: Sequence[float]) -> float:
    return moments[0] / 2


def _passes(layer: Layer, moments: Sequence[float]) -> float:
    return max(moments)


def _eltwise(layer: Layer, moments: Sequence[float]) -> float:
    p = layer.param.eltwise_param
    if p.operation != caffe_pb2.EltwiseParameter.SUM:
        return max(moments)
    coeff = list(p.coeff) or [1.0] * len(moments)
    return sum(c * c * m for c, m in zip(coeff, moments, strict=True))


# The second moment of a layer's tops from its bottoms'; a layer not named (a filter, a
# sigmoid, a prior box) leaves moment 1
MOMENTS: dict[str, Callable[[Layer, Sequence[float]], float]] = {
    "ReLU": _rectifier,
    "ReLU6": _rectifier,
    "PReLU": _rectifier,
    "Eltwise": _eltwise,
    **dict.fromkeys(
        (
            "BatchNorm",
            "BN",
            "Scale",
            "Pooling",
            "Concat",
            "Split",
            "Slice",
            "Dropout",
            "Flatten",
            "Reshape",
            "Crop",
            "Permute",
            "ShuffleChannel",
            "LRN",
            "Interp",
            "Upsample",
        ),
        _passes,
    ),
}


def filter_gains(net: Net) -> dict[str, float]:
    """Per layer name (the first layer of a name, as its weights are), 1 / the second
    moment of its bottoms (the largest, where they differ)."""
    moment = dict.fromkeys(net.inputs, INPUT_MOMENT)
    gains: dict[str, float] = {}
    for layer in net.layers:
        reads = [moment.get(b, 1.0) for b in layer.bottoms] or [1.0]
        gains.setdefault(layer.name, 1 / max(reads))
        rule = MOMENTS.get(layer.type)
        moment.update(dict.fromkeys(layer.tops, rule(layer, reads) if rule else 1.0))
    return gains
