"""Power, Exp and Log: functions of an affine input, shift + scale * x.

The converters emit the same steps as Caffe's Forward_cpu, skipping a step exactly
where Caffe skips it, so special values (0 * inf, pow of a negative base) come out
as Caffe's do.
"""

from __future__ import annotations

import math

import numpy as np

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts

NATURAL = -1.0  # exp_param.base / log_param.base value meaning e


def _affine(g: GraphBuilder, layer: Layer, x: str, scale: float, shift: float) -> str:
    """shift + scale * x, with the identity steps left out as Caffe leaves them out."""
    if scale != 1:
        x = g.op("Mul", x, g.floats(scale, f"{layer.name}_scale"))
    if shift != 0:
        x = g.op("Add", x, g.floats(shift, f"{layer.name}_shift"))
    return x


def _check_base(layer: Layer, field: str, base: float) -> None:
    if base != NATURAL and base <= 0:
        refuse(layer, f"{field} must be strictly positive, or -1 for e; got {base}")


@converts("Power")
def power(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = (shift + scale * x) ^ power."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.power_param
    top = layer.tops[0]
    if param.power * param.scale == 0:
        # Caffe ignores the input here: the output is the constant 1 (power 0) or shift^power.
        shift, exponent = np.float32(param.shift), np.float32(param.power)
        value = 1.0 if param.power == 0 else np.power(shift, exponent)
        constant = g.floats([value], f"{layer.name}_value")
        return [Tensor(g.op("Expand", constant, g.op("Shape", x.name), output=top), x.shape)]
    base = _affine(g, layer, x.name, param.scale, param.shift)
    if param.power == 1:
        return [Tensor(g.op("Identity", base, output=top), x.shape)]
    power_of = g.floats(param.power, f"{layer.name}_power")
    return [Tensor(g.op("Pow", base, power_of, output=top), x.shape)]


@converts("Exp")
def exp(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = base ^ (shift + scale * x); base -1 means e."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.exp_param
    _check_base(layer, "exp_param.base", param.base)
    # Caffe folds the base and the shift into two factors: y = base^shift * e^(ln(base)*scale*x).
    log_base = 1.0 if param.base == NATURAL else math.log(param.base)
    inner = log_base * param.scale
    if param.shift == 0:
        outer = 1.0
    else:
        outer = math.exp(param.shift) if param.base == NATURAL else param.base**param.shift
    scaled = _affine(g, layer, x.name, inner, 0.0)
    if outer == 1:
        return [Tensor(g.op("Exp", scaled, output=layer.tops[0]), x.shape)]
    powered = g.op("Exp", scaled)
    factor = g.floats(outer, f"{layer.name}_outer_scale")
    return [Tensor(g.op("Mul", powered, factor, output=layer.tops[0]), x.shape)]


@converts("Log")
def log(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """y = log_base(shift + scale * x); base -1 means e."""
    x = neuron_bottom(layer, inputs)
    param = layer.param.log_param
    _check_base(layer, "log_param.base", param.base)
    base_scale = 1.0 if param.base == NATURAL else 1.0 / math.log(param.base)
    argument = _affine(g, layer, x.name, param.scale, param.shift)
    if base_scale == 1:
        return [Tensor(g.op("Log", argument, output=layer.tops[0]), x.shape)]
    natural = g.op("Log", argument)
    factor = g.floats(base_scale, f"{layer.name}_base_scale")
    return [Tensor(g.op("Mul", natural, factor, output=layer.tops[0]), x.shape)]
