"""Element-wise activations: one bottom, one top of the same shape.

Each converter states Caffe's formula in its docstring; the first line is what the
supported-layers table shows.
"""

from __future__ import annotations

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


def _apply(
    layer: Layer, inputs: list[Tensor], g: GraphBuilder, op_type: str, **attrs: object
) -> list[Tensor]:
    """The one-node activation `op_type` applied to the layer's one bottom."""
    x = neuron_bottom(layer, inputs)
    return [Tensor(g.op(op_type, x.name, output=layer.tops[0], **attrs), x.shape)]


@converts("ReLU")
def relu(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = max(0, x) + negative_slope * min(0, x) (leaky when negative_slope is set)."""
    slope = layer.param.relu_param.negative_slope
    if slope == 0:
        return _apply(layer, inputs, g, "Relu")
    return _apply(layer, inputs, g, "LeakyRelu", alpha=slope)


@converts("PReLU")
def prelu(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = max(0, x) + a * min(0, x), with learned slopes a per channel (axis 1) or shared."""
    x = neuron_bottom(layer, inputs)
    if len(x.shape) < 2:
        refuse(layer, f"needs a bottom with at least 2 axes, got shape {x.shape}")
    # Caffe keeps a shared slope in a 0-D blob, per-channel slopes in a (C,) blob.
    shared = layer.param.prelu_param.channel_shared
    slopes = layer.blob(0, () if shared else (x.shape[1],))
    broadcast = (1,) if shared else (x.shape[1],) + (1,) * (len(x.shape) - 2)
    slope = g.initializer(slopes.reshape(broadcast), f"{layer.name}_slope")
    return [Tensor(g.op("PRelu", x.name, slope, output=layer.tops[0]), x.shape)]


@converts("ELU")
def elu(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = x if x > 0 else alpha * (exp(x) - 1)."""
    return _apply(layer, inputs, g, "Elu", alpha=layer.param.elu_param.alpha)


@converts("Sigmoid")
def sigmoid(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = 1 / (1 + exp(-x))."""
    return _apply(layer, inputs, g, "Sigmoid")


@converts("TanH")
def tanh(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = tanh(x)."""
    return _apply(layer, inputs, g, "Tanh")


@converts("AbsVal")
def absval(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = |x|."""
    return _apply(layer, inputs, g, "Abs")


@converts("BNLL")
def bnll(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = log(1 + exp(x)), computed without overflow (Softplus)."""
    return _apply(layer, inputs, g, "Softplus")


@converts("Threshold")
def threshold(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = 1 if x > threshold else 0 (strictly greater)."""
    x = neuron_bottom(layer, inputs)
    t = g.floats(layer.param.threshold_param.threshold, f"{layer.name}_threshold")
    above = g.op("Greater", x.name, t)
    return [Tensor(g.op("Cast", above, output=layer.tops[0], to=1), x.shape)]


@converts("Clip")
def clip(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = max(min, min(x, max)); both bounds are required."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.clip_param
    missing = [field for field in ("min", "max") if not param.HasField(field)]
    if missing:
        refuse(layer, f"clip_param needs both min and max; {' and '.join(missing)} not set")
    low = g.floats(param.min, f"{layer.name}_min")
    high = g.floats(param.max, f"{layer.name}_max")
    if param.min <= param.max:
        return [Tensor(g.op("Clip", x.name, low, high, output=layer.tops[0]), x.shape)]
    # ONNX's Clip yields max when min > max; Caffe applies max first, then min, so min wins.
    capped = g.op("Min", x.name, high)
    return [Tensor(g.op("Max", capped, low, output=layer.tops[0]), x.shape)]


@converts("Swish")
def swish(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = x * sigmoid(beta * x)."""
    x = neuron_bottom(layer, inputs)
    beta = layer.param.swish_param.beta
    scaled = x.name if beta == 1 else g.op("Mul", x.name, g.floats(beta, f"{layer.name}_beta"))
    gate = g.op("Sigmoid", scaled)
    return [Tensor(g.op("Mul", x.name, gate, output=layer.tops[0]), x.shape)]

