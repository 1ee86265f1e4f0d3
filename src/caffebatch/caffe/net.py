"""The scoring net: what the compiler sees of a Caffe model.

A `Net` holds the layers of the TEST phase in execution order, with their weights
attached and training-only layers removed. Blob names are made unique: Caffe lets a
layer write its output over its input ("in place", e.g. ReLU with bottom == top), so the
same Caffe blob name can stand for several values. The first value keeps the Caffe
name; each in-place rewrite gets ``<blob>@<layer>``. `Net.resolve` maps a name a user
gives (a layer or a Caffe blob) to the value it means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caffebatch.caffe.proto import caffe_pb2


@dataclass(frozen=True)
class Layer:
    """One layer of the scoring net.

    `bottoms` and `tops` are unique value names (see the module docstring); `param`
    is the layer's full LayerParameter, upgraded to the current format, so converters
    read e.g. ``layer.param.pooling_param`` with Caffe's defaults; `blobs` are its
    weights as float32 arrays in Caffe's blob shapes.
    """

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    param: caffe_pb2.LayerParameter
    blobs: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class Net:
    """A Caffe net ready to compile: inputs with their declared shapes, and layers."""

    name: str
    inputs: dict[str, tuple[int, ...]]
    layers: tuple[Layer, ...]
    # Caffe blob name -> the unique name of its last value
    latest: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        """The value that an output name means: a layer's (first) top, else a blob's last value."""
        for layer in self.layers:
            if layer.name == name and layer.tops:
                return layer.tops[0]
        if name in self.latest:
            return self.latest[name]
        if name in self.inputs:
            return name
        raise KeyError(name)

    @property
    def declared_batch(self) -> int:
        """The batch size the prototxt declares (the first dim of the first input)."""
        first = next(iter(self.inputs.values()))
        return first[0] if first else 1
