"""Fold per-channel affine nodes into the convolution that feeds them.

Caffe's ResNets follow each Convolution with BatchNorm and Scale; their converters emit
per-channel multiplies and adds (each converter sees only its own layer). When such a
node is the only reader of a convolution's output, ``a * conv(x, W, b) + c`` is the
convolution ``conv(x, a * W, a * b + c)``, so the node can go and the convolution does
the work in its own epilogue. Works for Mul, Add, Sub and Div by a constant, and ONNX
BatchNormalization in inference form.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from caffebatch.compiler.passes.graph_view import GraphView

# A per-channel affine map: (scale, shift) as arrays of one value per output channel.
Affine = tuple[np.ndarray, np.ndarray]


def _per_channel(view: GraphView, name: str, channels: int, rank: int) -> np.ndarray | None:
    """The constant `name` as one float per channel, if it broadcasts along channels only."""
    array = view.constant(name)
    if array is None or array.dtype != np.float32 or array.ndim > rank:
        return None
    dims = (1,) * (rank - array.ndim) + array.shape  # right-aligned, as ONNX broadcasts
    if any(d != 1 for i, d in enumerate(dims) if i != 1) or dims[1] not in (1, channels):
        return None
    return np.broadcast_to(array.reshape(-1), (channels,)).astype(np.float64)


def _binary(
    make: Callable[[np.ndarray], Affine | None],
    reversed_make: Callable[[np.ndarray], Affine] | None,
) -> Callable[[GraphView, onnx.NodeProto, str, int, int], Affine | None]:
    """The affine map of a binary node with one constant operand (either side).

    `make` gives the map for ``value op constant``, `reversed_make` for ``constant op
    value`` (None: not affine); either may return None to leave the node alone.
    """

    def affine(
        view: GraphView, node: onnx.NodeProto, value: str, channels: int, rank: int
    ) -> Affine | None:
        if len(node.input) != 2:
            return None
        first, second = node.input
        if first == value and second != value:
            c = _per_channel(view, second, channels, rank)
            return None if c is None else make(c)
        if second == value and first != value and reversed_make is not None:
            c = _per_channel(view, first, channels, rank)
            return None if c is None else reversed_make(c)
        return None

    return affine


def _batch_norm(
    view: GraphView, node: onnx.NodeProto, value: str, channels: int, rank: int
) -> Affine | None:
    training = next((a.i for a in node.attribute if a.name == "training_mode"), 0)
    if len(node.output) != 1 or node.input[0] != value or training:
        return None
    params = [_per_channel(view, name, channels, 2) for name in node.input[1:5]]
    scale, bias, mean, variance = params
    if scale is None or bias is None or mean is None or variance is None:
        return None
    epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    factor = scale / np.sqrt(variance + epsilon)
    return factor, bias - mean * factor


AFFINE: dict[str, Callable[[GraphView, onnx.NodeProto, str, int, int], Affine | None]] = {
    "Mul": _binary(lambda c: (c, np.zeros_like(c)), lambda c: (c, np.zeros_like(c))),
    "Add": _binary(lambda c: (np.ones_like(c), c), lambda c: (np.ones_like(c), c)),
    "Sub": _binary(lambda c: (np.ones_like(c), -c), lambda c: (-np.ones_like(c), c)),
    "Div": _binary(lambda c: (1.0 / c, np.zeros_like(c)) if c.all() else None, None),
    "BatchNormalization": _batch_norm,
}


def fold_affine_into_conv(view: GraphView) -> None:
    """Fold every chain of per-channel affine nodes after a Conv into that Conv."""
    for conv in [n for n in view.graph.node if n.op_type == "Conv"]:
        weights = view.constant(conv.input[1])
        if weights is None or weights.dtype != np.float32:
            continue
        channels, rank = weights.shape[0], weights.ndim
        bias = (
            view.constant(conv.input[2])
            if len(conv.input) > 2 and conv.input[2]
            else np.zeros(channels)
        )
        if bias is None:
            continue
        scale, shift, folded = np.ones(channels), np.zeros(channels), 0
        while (reader := view.sole_consumer(conv.output[0])) is not None:
            rule = AFFINE.get(reader.op_type)
            affine = rule(view, reader, conv.output[0], channels, rank) if rule else None
            if affine is None:
                break
            scale, shift = affine[0] * scale, affine[0] * shift + affine[1]
            conv.output[0] = reader.output[0]
            view.remove(reader)
            folded += 1
        if not folded:
            continue
        folded_w = (weights * scale.reshape((-1,) + (1,) * (rank - 1))).astype(np.float32)
        folded_b = (bias * scale + shift).astype(np.float32)
        view.set_input(conv, 1, view.add_constant(folded_w, f"{conv.name}_W"))
        view.set_input(conv, 2, view.add_constant(folded_b, f"{conv.name}_B"))
