"""Generators of the ImageNet-size Caffe nets the engine benchmark runs.

Each writes a model folder (deploy.prototxt, weights.caffemodel, deployment-meta.json)
with random but sane weights: what matters for speed is the net's shape, not training.
"""

from .googlenet import write_googlenet
from .resnet import write_resnet50_1by2

__all__ = ["write_googlenet", "write_resnet50_1by2"]
