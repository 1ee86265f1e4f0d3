"""The public deploy nets of tests/realworld/prototxts (SOURCES.md) compile and match OpenCV.

Each net gets generated weights of the right shapes (weights.py) and, where the net
allows it, a smaller input; caffebatch's output is compared with OpenCV 4.x's, with numpy
statements of the fork's C++ for the layers OpenCV lacks (opencv_reference.py), at batch 1
and batch 3, within rtol 1e-4 and atol 1e-5 x the output's scale. An SSD net's detections
are checked through their inputs and as rows (detections.py), and at batch 3 each
record's rows must be what it gets scored alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from caffebatch.caffe.data_input import replace_data_layer
from caffebatch.caffe.net import TRAINING_ONLY, build_net
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.caffe.read import read_caffemodel, read_prototxt
from caffebatch.caffe.upgrade import upgrade_net
from caffebatch.compiler import layouts
from caffebatch.compiler.compile import compile_net
from caffebatch.runtime.scorer import Scorer
from tests.realworld import detections
from tests.realworld.opencv_reference import run_opencv
from tests.realworld.weights import generate, weights_file

PROTOTXTS = Path(__file__).parent / "prototxts"

# Input (channels, height, width) per net where it can be smaller than the declared one;
# a net not named keeps its declared input.
SMALLER = {
    "bvlc_alexnet": (3, 67, 67),
    "bvlc_reference_caffenet": (3, 67, 67),
    "bvlc_reference_rcnn_ilsvrc13": (3, 67, 67),
    "finetune_flickr_style": (3, 67, 67),
    "caffenet_full_conv": (3, 227, 227),  # fc6-conv is 6 x 6
    "places365_alexnet": (3, 67, 67),
    "age_net": (3, 67, 67),
    "gender_net": (3, 67, 67),
    "bvlc_googlenet": (3, 224, 224),  # a final 7 x 7 pooling
    "places365_googlenet": (3, 224, 224),  # a final 7 x 7 pooling
    "resnet50": (3, 224, 224),  # a final 7 x 7 pooling
    "se_resnet50": (3, 224, 224),  # a final 7 x 7 pooling
    "open_nsfw": (3, 224, 224),  # a final 7 x 7 pooling
    "squeezenet_v1_0": (3, 64, 64),
    "squeezenet_v1_1": (3, 64, 64),
    "mobilenet_v1": (3, 64, 64),
    "mobilenet_v2": (3, 64, 64),
    "densenet121": (3, 64, 64),
    "shufflenet_g3": (3, 64, 64),
    "shufflenet_v2": (3, 64, 64),
    "mobilenet_v1_yolov3": (3, 64, 64),
    "fcn8s_voc": (3, 64, 64),
    "hed": (3, 64, 64),
    "openpose_body25": (3, 64, 64),
    "openpose_hand": (3, 64, 64),
    "colorization_v2": (1, 64, 64),
    "enet": (3, 64, 64),
    # 40 -> 20 -> 10 -> 5 -> 3: pool4 pools an odd plane, upsample4 unpools with pad_out_h
    "segnet_basic": (3, 40, 48),
    # icnet_cityscapes keeps 1025 x 2049: its pyramid pools have kernels of that size / 32
}
# Heavy even at the smaller size (seconds each on 2 cores)
SLOW = {
    "pspnet50_ade20k",
    "icnet_cityscapes",
    "densenet121",
    "openpose_body25",
    "colorization_v2",
    "ssd300_vgg16_voc",  # 300 x 300 VGG16 and six NMS runs at batch 3: ~50 s
}

# Layers OpenCV gets wrong in a net (by type or by name), run as numpy statements instead:
# OpenCV 4.x's Interp makes an empty output from shrink_factor alone (ICNet's data_sub2),
# and its depthwise 3 x 3 convolution with pad 1 of a 1 x 1 plane reads memory outside it
# (SSDLite's last heads; outputs off by up to 1e8 in a one-layer net, right on 2 x 2).
NUMPY_LAYERS = {
    "icnet_cityscapes": frozenset({"Interp"}),
    "mobilenetv2_ssdlite": frozenset(
        {"layer_19_2_5_mbox_loc/depthwise", "layer_19_2_5_mbox_conf/depthwise"}
    ),
}

NETS = sorted(p.stem for p in PROTOTXTS.glob("*.prototxt"))


def _with_input_shape(deploy: caffe_pb2.NetParameter, chw: tuple[int, ...] | None) -> None:
    """Rewrite the first input's shape (Input layer, net-level input or data layer), batch 1."""
    for layer in deploy.layer:
        if layer.type == "Input":
            for shape in layer.input_param.shape:
                if chw is not None:
                    shape.dim[:] = [1, *chw]
                else:
                    shape.dim[0] = 1
            return
        if layer.type == "DenseImageData":
            p = layer.dense_image_data_param
            p.batch_size, (p.new_height, p.new_width) = 1, chw[1:]
            return
    for shape in deploy.input_shape:
        shape.dim[:] = [1, *chw] if chw is not None else [1, *shape.dim[1:]]
    if deploy.input_dim:
        dims = list(deploy.input_dim)
        for i in range(0, len(dims), 4):
            dims[i : i + 4] = [1, *chw] if chw is not None else [1, *dims[i + 1 : i + 4]]
        deploy.input_dim[:] = dims


def _sinks(net) -> list[str]:
    # What a Silence layer reads is still an output (colorization's class8_ab)
    read = {b for layer in net.layers if layer.type != "Silence" for b in layer.bottoms}
    return [
        layer.name
        for layer in net.layers
        if layer.type != "Silence" and layer.tops and not any(t in read for t in layer.tops)
    ]


def _before_softmax(net, outputs: list[str]) -> list[str]:
    """The layer that last wrote each output Softmax's bottom: a saturated softmax hides
    errors in its logits, so those are compared too."""
    found = []
    for index, layer in enumerate(net.layers):
        if layer.name in outputs and layer.type == "Softmax":
            writers = [l.name for l in net.layers[:index] if layer.bottoms[0] in l.tops]
            found.append(writers[-1])
    return found


def _close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


# Nets that do not match yet, with what is known. Strict: the day one passes, this fails,
# and its line goes.
KNOWN_MISMATCH: dict[str, str] = {}


def _params(name: str) -> list:
    params = []
    for net in NETS:
        marks = [pytest.mark.slow] if net in SLOW else []
        if net in KNOWN_MISMATCH:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISMATCH[net], strict=True))
        params.append(pytest.param(net, marks=marks))
    return params


@pytest.mark.parametrize("name", _params("nets"))
def test_net_compiles_and_matches_opencv(name, tmp_path):
    deploy = read_prototxt(PROTOTXTS / f"{name}.prototxt")
    _with_input_shape(deploy, SMALLER.get(name))
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text(text_format.MessageToString(deploy))
    bare = build_net(read_prototxt(prototxt))
    weights = generate(bare, name)
    types = {layer.name: layer.type for layer in bare.layers}
    caffemodel = None
    if weights:
        caffemodel = tmp_path / "weights.caffemodel"
        caffemodel.write_bytes(weights_file(weights, types))
    trained = read_caffemodel(caffemodel) if caffemodel else None
    net = build_net(read_prototxt(prototxt), trained)
    outputs = _sinks(net)
    outputs += [logits for logits in _before_softmax(net, outputs) if logits not in outputs]
    detecting = detections.detection_layers(net, outputs)
    fed = {name: detections.feeders(net, layer) for name, layer in detecting.items()}
    outputs += [f for names in fed.values() for f in names if f not in outputs]
    first_top = {l.name: l.param.top[0] for l in reversed(net.layers) if l.param.top}
    outputs_with_tops = [(name, first_top[name]) for name in outputs]
    compiled = compile_net(net, outputs)
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    # What OpenCV reads: the upgraded net, with a lone data layer turned into its Input
    upgraded = upgrade_net(read_prototxt(prototxt))
    for_opencv = caffe_pb2.NetParameter()
    for_opencv.CopyFrom(upgraded)
    del for_opencv.layer[:]
    scoring = replace_data_layer(list(upgraded.layer), {})
    for_opencv.layer.extend(layer for layer in scoring if layer.type not in TRAINING_ONLY)
    rng = np.random.default_rng(3)
    for batch in (1, 3):
        inputs = {
            key: rng.uniform(-1, 1, (batch, *shape[1:])).astype(np.float32)
            for key, shape in net.inputs.items()
        }
        ours = scorer(inputs)
        theirs = run_opencv(
            for_opencv,
            caffemodel,
            tmp_path,
            inputs,
            outputs_with_tops,
            NUMPY_LAYERS.get(name, frozenset()),
        )
        # Detections last: their inputs are the stronger check, and say more when they fail
        for output, expected in sorted(
            zip(outputs, theirs, strict=True), key=lambda pair: pair[0] in detecting
        ):
            what = f"{name} batch {batch} output {output}"
            if output not in detecting:
                _close(ours[output], expected, what)
                continue
            rows = ours[output]
            loc, conf, prior = (ours[f] for f in fed[output])
            reference = detections.reference_rows(detecting[output], loc, conf, prior)
            _close(rows, reference, f"{what} vs weiliu89's DetectionOutput in numpy")
            found = detections.as_set(rows)
            assert len(found), f"{what}: no detections, the rows check nothing"
            opencv = detections.paired(found, detections.as_set(expected))
            _close(found, opencv, f"{what} vs OpenCV, as a set of rows")
            for index in range(batch if batch > 1 else 0):
                alone = scorer({k: v[index : index + 1] for k, v in inputs.items()})[output]
                _close(
                    layouts.record_value(layouts.ROWS, rows, index),
                    layouts.record_value(layouts.ROWS, alone, 0),
                    f"{what}: record {index} in the batch vs alone",
                )
