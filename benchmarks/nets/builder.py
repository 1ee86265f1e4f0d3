"""NetWriter: build a Caffe deploy net layer by layer, with random but sane weights.

The generators in this package describe a net as calls (`conv`, `batch_norm`, ...); the
writer keeps the deploy definition and the weights side by side and writes a model
folder that caffebatch and OpenCV both read: deploy.prototxt, weights.caffemodel and
deployment-meta.json.

Weights are He-initialised, so activations keep their scale through deep ReLU nets,
and BatchNorm statistics are positive where Caffe needs them to be.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from caffebatch.caffe.proto import caffe_pb2


class NetWriter:
    """A deploy net being built; each method adds one layer and returns its top."""

    def __init__(self, name: str, input_shape: tuple[int, ...], seed: int) -> None:
        self.deploy = caffe_pb2.NetParameter(name=name)
        self.weights = caffe_pb2.NetParameter(name=name)
        self.rng = np.random.default_rng(seed)
        self.channels: dict[str, int] = {"data": input_shape[1]}
        self.deploy.layer.add(
            name="data",
            type="Input",
            top=["data"],
            input_param={"shape": [{"dim": list(input_shape)}]},
        )

    def _add(self, name: str, kind: str, bottoms: list[str], top: str, blobs=(), **params):
        layer = self.deploy.layer.add(name=name, type=kind, bottom=bottoms, top=[top], **params)
        if blobs:
            trained = self.weights.layer.add(name=name, type=kind)
            for array in blobs:
                blob = trained.blobs.add()
                blob.shape.dim.extend(array.shape)
                blob.data.extend(np.asarray(array, dtype=np.float32).ravel())
        return layer

    def conv(
        self,
        name: str,
        bottom: str,
        out: int,
        kernel: int,
        stride: int = 1,
        pad: int = 0,
        bias: bool = True,
    ) -> str:
        c = self.channels[bottom]
        fan_in = c * kernel * kernel
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (out, c, kernel, kernel))
        blobs = [w, self.rng.normal(0.0, 0.01, out)] if bias else [w]
        param = {
            "num_output": out,
            "kernel_size": [kernel],
            "stride": [stride],
            "pad": [pad],
            "bias_term": bias,
        }
        self._add(name, "Convolution", [bottom], name, blobs, convolution_param=param)
        self.channels[name] = out
        return name

    def batch_norm(self, name: str, bottom: str) -> str:
        """In place, as Caffe's ResNets write it; the stats carry Caffe's scale factor."""
        c = self.channels[bottom]
        factor = 0.999  # Caffe's moving-average normaliser, stored as the third blob
        mean = self.rng.normal(0.0, 0.1, c) * factor
        variance = self.rng.uniform(0.5, 1.5, c) * factor
        self._add(name, "BatchNorm", [bottom], bottom, [mean, variance, np.array([factor])])
        return bottom

    def scale(self, name: str, bottom: str, gamma: float = 1.0) -> str:
        c = self.channels[bottom]
        blobs = [self.rng.uniform(0.8, 1.2, c) * gamma, self.rng.normal(0.0, 0.05, c)]
        self._add(name, "Scale", [bottom], bottom, blobs, scale_param={"bias_term": True})
        return bottom

    def relu(self, name: str, bottom: str) -> str:
        self._add(name, "ReLU", [bottom], bottom)
        return bottom

    def pool(
        self, name: str, bottom: str, method: str, kernel: int, stride: int, pad: int = 0
    ) -> str:
        # round_mode is left at Caffe's default, CEIL
        param = {
            "pool": caffe_pb2.PoolingParameter.PoolMethod.Value(method),
            "kernel_size": kernel,
            "stride": stride,
            "pad": pad,
        }
        self._add(name, "Pooling", [bottom], name, pooling_param=param)
        self.channels[name] = self.channels[bottom]
        return name

    def lrn(self, name: str, bottom: str) -> str:
        # AlexNet's parameters, as BVLC GoogLeNet uses them (k = 1, so OpenCV's LRN agrees)
        self._add(
            name, "LRN", [bottom], name, lrn_param={"local_size": 5, "alpha": 1e-4, "beta": 0.75}
        )
        self.channels[name] = self.channels[bottom]
        return name

    def eltwise_sum(self, name: str, bottoms: list[str]) -> str:
        self._add(name, "Eltwise", bottoms, name)
        self.channels[name] = self.channels[bottoms[0]]
        return name

    def concat(self, name: str, bottoms: list[str]) -> str:
        self._add(name, "Concat", bottoms, name)
        self.channels[name] = sum(self.channels[b] for b in bottoms)
        return name

    def inner_product(self, name: str, bottom: str, out: int, fan_in: int) -> str:
        w = self.rng.normal(0.0, np.sqrt(1.0 / fan_in), (out, fan_in))
        blobs = [w, self.rng.normal(0.0, 0.01, out)]
        self._add(
            name, "InnerProduct", [bottom], name, blobs, inner_product_param={"num_output": out}
        )
        self.channels[name] = out
        return name

    def dropout(self, name: str, bottom: str) -> str:
        self._add(name, "Dropout", [bottom], bottom, dropout_param={"dropout_ratio": 0.4})
        return bottom

    def softmax(self, name: str, bottom: str) -> str:
        self._add(name, "Softmax", [bottom], name)
        return name

    def write(self, folder: Path, output: str) -> Path:
        """Write the model folder (deploy.prototxt, weights.caffemodel, deployment-meta.json)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "deploy.prototxt").write_text(text_format.MessageToString(self.deploy))
        (folder / "weights.caffemodel").write_bytes(self.weights.SerializeToString())
        meta = {
            "input_layers": ["data"],
            "output_layers": [output],
            "network_definitions_file_name": "deploy.prototxt",
            "weights_file_name": "weights.caffemodel",
        }
        (folder / "deployment-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder
