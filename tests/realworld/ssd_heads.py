"""SSD heads and softmax logits rescaled to a trained net's spread, measured on the net.

Generated heads (gains.py) make class logits of order ten and more: every softmax then
saturates to 1.0, every prior of a class ties, and at the top_k and keep_top_k cuts
Caffe's sort leaves the order of ties unspecified, so two right implementations keep
different boxes. Location predictions that large throw the decoded boxes off the image.
So each convolution feeding a DetectionOutput's location or confidence bottom (through
Permute, Flatten, Concat, Reshape and Softmax) is rescaled, weights and bias together,
until its output on a sample input has the standard deviation of a trained head's:
LOC_STD for locations (with SSD's variances of 0.1 and 0.2 a box moves by a tenth of its
prior), CONF_STD for class logits (scores spread between 0 and 1, some above the
confidence thresholds).

The logits of a Softmax that feeds further layers (colorization's class8_313_rh, whose
probabilities a 1 x 1 convolution mixes) are rescaled the same way, to LOGITS_STD: a
softmax's relative error is its logits' absolute error, and the calibrated trunk left
colorization's at a spread of 1.3e3, where float32 rounding (1e-5 of that) flips near-ties.
A Softmax that is an output needs none: the test compares its logits too.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from caffebatch.caffe.net import Net
from caffebatch.compiler.compile import compile_net
from caffebatch.runtime.scorer import Scorer

Blobs = list[np.ndarray]
LOC_STD = 1.0
CONF_STD = 2.0
LOGITS_STD = 1.0
# Layers whose output scales with their weights and bias together
WEIGHTED = {"Convolution", "ConvolutionDepthwise", "Deconvolution", "InnerProduct", "Scale"}
# Layers that only move a head's values around on their way to DetectionOutput
PLUMBING = {"Permute", "Flatten", "Concat", "Reshape", "Softmax"}


def detection_heads(net: Net) -> dict[str, float]:
    """The target output std of each convolution feeding a DetectionOutput's loc or conf."""
    writer = {top: layer for layer in net.layers for top in layer.tops}
    targets: dict[str, float] = {}
    for layer in net.layers:
        if layer.type != "DetectionOutput":
            continue
        for bottom, std in zip(layer.bottoms[:2], (LOC_STD, CONF_STD), strict=True):
            pending = [bottom]
            while pending:
                source = writer.get(pending.pop())
                if source is None:
                    continue
                if source.type in PLUMBING:
                    pending.extend(source.bottoms)
                elif source.type in ("Convolution", "ConvolutionDepthwise"):
                    targets[source.name] = std
    return targets


def softmax_logits(net: Net) -> dict[str, float]:
    """LOGITS_STD for the weighted layer writing the bottom of each Softmax that feeds another."""
    read = {b for layer in net.layers for b in layer.bottoms}
    writer: dict[str, str] = {}
    weighted = {layer.name for layer in net.layers if layer.type in WEIGHTED}
    targets: dict[str, float] = {}
    for layer in net.layers:
        if layer.type == "Softmax" and any(top in read for top in layer.tops):
            source = writer.get(layer.bottoms[0])
            if source in weighted:
                targets[source] = LOGITS_STD
        writer.update((top, layer.name) for top in layer.tops)
    return targets


def rescale_heads(
    net: Net, weights: dict[str, Blobs], rng: np.random.Generator
) -> dict[str, Blobs]:
    """`weights` with every SSD head and softmax's logits rescaled to its target std
    (see the module docstring)."""
    targets = {**softmax_logits(net), **detection_heads(net)}
    if not targets:
        return weights
    layers = tuple(dataclasses.replace(l, blobs=tuple(weights.get(l.name, ()))) for l in net.layers)
    compiled = compile_net(dataclasses.replace(net, layers=layers), sorted(targets))
    inputs = {k: rng.uniform(-1, 1, (1, *s[1:])).astype(np.float32) for k, s in net.inputs.items()}
    seen = Scorer(compiled.onnx.SerializeToString(), threads=1)(inputs)
    for name, std in targets.items():
        factor = np.float32(std / max(float(np.std(seen[name])), 1e-12))
        weights[name] = [(blob * factor).astype(np.float32) for blob in weights[name]]
    return weights
