"""A deploy net fed by a training data layer: its top becomes the input (SegNet's DenseImageData)."""

import pytest
from google.protobuf import text_format

from caffebatch.caffe.net import build_net
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import NetError

SEGNET_HEAD = """
layer { name: "data" type: "DenseImageData" top: "data" top: "label"
        dense_image_data_param { source: "/SegNet/CamVid/test.txt" batch_size: 1 } }
layer { name: "norm" type: "LRN" bottom: "data" top: "norm" }
"""


def parse(text: str) -> caffe_pb2.NetParameter:
    return text_format.Parse(text, caffe_pb2.NetParameter())


def test_the_shape_comes_from_input_shapes_when_the_layer_does_not_fix_it():
    net = build_net(parse(SEGNET_HEAD), input_shapes={"data": [3, 360, 480]})
    assert net.inputs == {"data": (1, 3, 360, 480)}
    assert net.input_layers == {"data": "data"}
    assert [layer.name for layer in net.layers] == ["norm"]


def test_the_layer_s_own_sizes_fix_the_shape():
    fixed = SEGNET_HEAD.replace(
        "batch_size: 1", "batch_size: 4 new_height: 8 new_width: 6 is_color: false"
    )
    assert build_net(parse(fixed)).inputs == {"data": (4, 1, 8, 6)}


def test_an_unfixed_shape_says_how_to_declare_it():
    with pytest.raises(NetError, match=r'"input_shapes": \{"data": \[3, 360, 480\]\}'):
        build_net(parse(SEGNET_HEAD))


def test_input_shapes_that_contradict_the_layer_are_refused():
    fixed = SEGNET_HEAD.replace("batch_size: 1", "batch_size: 1 new_height: 8 new_width: 6")
    with pytest.raises(NetError, match="fixes input 'data' to \\[3, 8, 6\\]"):
        build_net(parse(fixed), input_shapes={"data": [3, 9, 6]})


def test_the_label_top_stays_training_only():
    reads_label = SEGNET_HEAD + 'layer { name: "r" type: "ReLU" bottom: "label" top: "r" }'
    with pytest.raises(NetError, match="training-only layer"):
        build_net(parse(reads_label), input_shapes={"data": [3, 4, 4]})
