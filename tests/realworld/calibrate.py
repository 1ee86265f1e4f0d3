"""Normalization statistics for generated weights, measured on the net's own activations.

Drawn statistics do not match what a deep net's activations hold: a residual net's
activations then grow with every block (SE-ResNet-50's reached 10^3) and float rounding,
not the layers, decides which channels an SE gate passes and which class a softmax picks.
So, as LSUV initialization does, the net is run on a sample input and each BatchNorm's and
BN's statistics are set to the per-channel mean and variance of what reaches it. One pass,
measured with the drawn statistics upstream: that brings every net here into order one
(SE-ResNet-50's logits to ~10); repeating it, with the corrected statistics upstream, made
SE-ResNet-50 overflow on the second pass, for a reason not yet found. Measuring each in
order, with every one upstream already set (tried), normalizes ResNet-50's branches exactly
and makes the random net chaotic: float32 rounding then grows 1.4 times per block, to 1e-4
of fc1000 against OpenCV, where one pass keeps it at 2e-7. One pass does leave a plain
chain of BatchNorms without Scale (colorization) at a large scale; its logits are rescaled
with the SSD heads (ssd_heads.py). (Those figures were measured with He's gain on every
filter, before gains.py.) One pass is only as good as the uncalibrated net's scale: each
BatchNorm divides by what it saw there, so an error there compounds down a chain. With
the input's moment of 1/3 ignored at the first filter, SegNet's logits reached 10^3
(6.6e1 with it), where float32 rounding in its softmax exceeds the tolerance.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from caffebatch.caffe.net import Net
from caffebatch.compiler.compile import compile_net
from caffebatch.runtime.scorer import Scorer

Blobs = list[np.ndarray]
PASSES = 1  # see the module docstring


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
    inputs = {k: rng.uniform(-1, 1, (1, *s[1:])).astype(np.float32) for k, s in net.inputs.items()}
    types = {layer.name: layer.type for layer in net.layers}
    originals = {name: weights[name] for name in reads}
    for _ in range(PASSES):
        layers = tuple(
            dataclasses.replace(l, blobs=tuple(weights.get(l.name, ()))) for l in renamed.layers
        )
        compiled = compile_net(
            dataclasses.replace(renamed, layers=layers), sorted(set(reads.values()))
        )
        seen = Scorer(compiled.onnx.SerializeToString(), threads=1)(inputs)
        for name, blob in reads.items():
            x = seen[blob].astype(np.float64)
            if x.size == x.shape[1]:
                # One value per channel (a 1 x 1 plane, SSD's last feature map): its own
                # mean would cancel it exactly and leave rounding noise blown up by the
                # variance floor, so the channels stand in for the samples.
                x = x.reshape(1, 1, -1)
            axes = (0, *range(2, x.ndim))
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            mean, var = (
                np.broadcast_to(mean, seen[blob].shape[1]),
                np.broadcast_to(var, seen[blob].shape[1]),
            )
            # A channel the sample leaves (nearly) constant would be blown up to order one
            # from its rounding noise
            var = np.maximum(var, 0.05 * var.mean() + 1e-6)
            weights[name] = _normalized(
                types[name], originals[name], mean.astype(np.float32), var.astype(np.float32)
            )
    return weights
