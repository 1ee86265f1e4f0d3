"""Normalization statistics for generated weights, measured on the net's own activations.

Drawn statistics do not match what a deep net's activations hold: a residual net's
activations then grow with every block (SE-ResNet-50's reached 10^3) and float rounding,
not the layers, decides which channels an SE gate passes and which class a softmax picks.
So, as LSUV initialization does, the net is run on a sample input and each BatchNorm's and
BN's statistics are set to the per-channel mean and variance of what reaches it.

In order, each with every normalization upstream already set: statistics measured with the
drawn ones upstream are wrong by as much as the upstream layers rescale, and in a chain of
normalizations without a Scale those factors multiply (colorization's eight BatchNorms took
its logits to 7.5e3, where a softmax is a near-tie argmax that float rounding flips). The
net runs in segments that end at each normalization, so the whole net runs once.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from caffebatch.caffe.net import Layer, Net
from caffebatch.compiler.compile import compile_net
from caffebatch.runtime.scorer import Scorer

Blobs = list[np.ndarray]


def _normalized(layer_type: str, blobs: Blobs, mean: np.ndarray, var: np.ndarray) -> Blobs:
    if layer_type == "BatchNorm":
        return [mean, var, np.ones(1, np.float32)]
    if len(blobs) == 4:  # hszhao/PSPNet BN: slope, bias, mean, variance
        return [blobs[0], blobs[1], mean.reshape(blobs[2].shape), var.reshape(blobs[3].shape)]
    # caffe-segnet BN: scale * x + shift, the statistics folded in
    scale = (blobs[0].ravel() / np.sqrt(var + 1e-5)).astype(np.float32)
    shift = (blobs[1].ravel() - mean * scale).astype(np.float32)
    return [scale.reshape(blobs[0].shape), shift.reshape(blobs[1].shape)]


def _single_assignment(net: Net) -> tuple[Net, dict[str, str]]:
    """`net` with every top renamed apart (in-place layers too), and, per BatchNorm or BN,
    the renamed blob it reads: what reaches it, not the blob's final value."""
    current = {name: name for name in net.inputs}
    reads: dict[str, str] = {}
    layers = []
    for index, layer in enumerate(net.layers):
        bottoms = tuple(current[b] for b in layer.bottoms)
        if layer.type in ("BatchNorm", "BN"):
            reads.setdefault(layer.name, bottoms[0])
        tops = tuple(f"{top}@{index}" for top in layer.tops)
        current.update(zip(layer.tops, tops, strict=True))
        layers.append(dataclasses.replace(layer, bottoms=bottoms, tops=tops))
    latest = {top: top for layer in layers for top in layer.tops}
    return dataclasses.replace(net, layers=tuple(layers), latest=latest), reads


def calibrate(net: Net, weights: dict[str, Blobs], rng: np.random.Generator) -> dict[str, Blobs]:
    """`weights` with every BatchNorm's and BN's statistics measured, in float32."""
    renamed, reads = _single_assignment(net)
    if not reads:
        return weights
    types = {layer.name: layer.type for layer in net.layers}
    originals = {name: weights[name] for name in reads}
    # Where each statistic is measured: the first layer of its name, which owns the weights
    stops = {}
    for index, layer in enumerate(renamed.layers):
        if layer.name in reads:
            stops.setdefault(layer.name, index)
    last = max(stops.values())
    needed = {b for layer in renamed.layers[:last] for b in layer.bottoms}
    needed |= set(reads.values())
    values = {
        k: rng.uniform(-1, 1, (1, *s[1:])).astype(np.float32) for k, s in net.inputs.items()
    }
    start = 0
    for name, stop in sorted(stops.items(), key=lambda item: item[1]):
        segment = tuple(
            dataclasses.replace(l, blobs=tuple(weights.get(l.name, ())))
            for l in renamed.layers[start:stop]
        )
        values.update(_forward(renamed, segment, values, needed))
        start = stop
        x = values[reads[name]].astype(np.float64)
        weights[name] = _normalized(types[name], originals[name], *_statistics(x))
    return weights


def _forward(
    net: Net, segment: tuple[Layer, ...], values: dict[str, np.ndarray], needed: set[str]
) -> dict[str, np.ndarray]:
    """The values in `needed` that `segment` computes from `values`."""
    made = {top for layer in segment for top in layer.tops}
    outputs = sorted(made & needed)
    if not outputs:
        return {}
    fed = {b for layer in segment for b in layer.bottoms} - made
    part = dataclasses.replace(
        net,
        inputs={b: values[b].shape for b in sorted(fed)},
        layers=segment,
        latest={top: top for top in made},
    )
    compiled = compile_net(part, outputs)
    return Scorer(compiled.onnx.SerializeToString(), threads=1)({b: values[b] for b in fed})


def _statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float32 mean and variance of the float64 `x`, for normalizing it."""
    channels = x.shape[1]
    if x.size == channels:
        # One value per channel (a 1 x 1 plane, SSD's last feature map): its own
        # mean would cancel it exactly and leave rounding noise blown up by the
        # variance floor, so the channels stand in for the samples.
        x = x.reshape(1, 1, -1)
    axes = (0, *range(2, x.ndim))
    mean = np.broadcast_to(x.mean(axis=axes), channels)
    var = np.broadcast_to(x.var(axis=axes), channels)
    # No channel is scaled up more than the layer's typical one. A channel the ReLU before
    # it leaves sparse (active on 2 to 30% of the plane) has a small variance, but its
    # inputs carry the same float32 rounding as a dense channel's: dividing by its own
    # deviation multiplied that rounding by up to 7, and colorization's eight BatchNorms
    # compounded it past the tolerance (with ours and OpenCV equally far from float64).
    var = np.maximum(var, var.mean() + 1e-6)
    return mean.astype(np.float32), var.astype(np.float32)
