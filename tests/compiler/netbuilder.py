"""Build small Caffe nets in tests, run them through caffebatch, and through OpenCV.

    conv = layer("conv", "Convolution", ["data"], ["conv"], blobs=[w, b],
                 convolution_param={"num_output": 4, "kernel_size": [3]})
    outputs = run([conv], {"data": x}, ["conv"])
    opencv_outputs = run_opencv([conv], {"data": x}, ["conv"], tmp_path)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from caffebatch.caffe.net import Layer, Net
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.compiler.compile import compile_net
from caffebatch.runtime.scorer import Scorer


def layer(
    name: str,
    layer_type: str,
    bottoms: Sequence[str],
    tops: Sequence[str],
    blobs: Sequence[np.ndarray] = (),
    **params: object,
) -> Layer:
    """A Layer whose LayerParameter is built from keyword arguments (dicts for *_param)."""
    message = caffe_pb2.LayerParameter(
        name=name, type=layer_type, bottom=list(bottoms), top=list(tops), **params
    )
    arrays = tuple(np.asarray(b, dtype=np.float32) for b in blobs)
    return Layer(name, layer_type, tuple(bottoms), tuple(tops), message, arrays)


def net(layers: Sequence[Layer], input_shapes: Mapping[str, Sequence[int]]) -> Net:
    """A Net over `layers`, whose inputs have the given full shapes (batch first)."""
    latest = {top: top for l in layers for top in l.tops}
    return Net("test", {k: tuple(v) for k, v in input_shapes.items()}, tuple(layers), latest)


def run(
    layers: Sequence[Layer],
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
) -> dict[str, np.ndarray]:
    """Compile `layers` with caffebatch and score `inputs` with ONNX Runtime."""
    compiled = compile_net(net(layers, {k: v.shape for k, v in inputs.items()}), outputs)
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    return scorer(inputs)


def write_caffe_files(
    layers: Sequence[Layer],
    input_shapes: Mapping[str, Sequence[int]],
    folder: Path,
) -> tuple[Path, Path]:
    """Write the net as a deploy prototxt (Input layers first) and a .caffemodel."""
    deploy = caffe_pb2.NetParameter(name="test")
    weights = caffe_pb2.NetParameter(name="test")
    for name, shape in input_shapes.items():
        deploy.layer.add(
            name=name, type="Input", top=[name], input_param={"shape": [{"dim": list(shape)}]}
        )
    for l in layers:
        definition = deploy.layer.add()
        definition.CopyFrom(l.param)
        del definition.blobs[:]
        weighted = weights.layer.add(name=l.name, type=l.type)
        for array in l.blobs:
            weighted.blobs.add(shape={"dim": list(array.shape)}, data=array.ravel().tolist())
    prototxt = folder / "deploy.prototxt"
    caffemodel = folder / "weights.caffemodel"
    prototxt.write_text(text_format.MessageToString(deploy))
    caffemodel.write_bytes(weights.SerializeToString())
    return prototxt, caffemodel


def run_opencv(
    layers: Sequence[Layer],
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    folder: Path,
) -> dict[str, np.ndarray]:
    """Run the same net with OpenCV's DNN module (4.x), an independent second opinion."""
    import cv2

    prototxt, caffemodel = write_caffe_files(layers, {k: v.shape for k, v in inputs.items()}, folder)
    model = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    for name, array in inputs.items():
        model.setInput(np.ascontiguousarray(array, dtype=np.float32), name)
    results = model.forward(list(outputs))
    return dict(zip(outputs, results, strict=True))
