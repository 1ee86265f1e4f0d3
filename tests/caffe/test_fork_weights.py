"""Weights files written by Caffe forks: their blobs are read even when their numbering clashes."""

import pytest
from google.protobuf import message
from google.protobuf.internal import encoder

from caffebatch.caffe.net import build_net
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.caffe.read import read_caffemodel


def _field(number: int, payload: bytes) -> bytes:
    return encoder.TagBytes(number, 2) + encoder._VarintBytes(len(payload)) + payload


def test_a_fork_numbering_that_breaks_the_schema_still_gives_the_blobs(tmp_path):
    layer = caffe_pb2.LayerParameter(name="conv", type="Convolution")
    layer.blobs.add(shape={"dim": [1, 1, 1, 1]}, data=[3.0])
    # Intel's Caffe fork numbers `optional string engine = 149`; 149 is upsample_param here,
    # a message, and the string does not decode as one.
    body = layer.SerializeToString() + _field(149, b"MKL2017")
    path = tmp_path / "fork.caffemodel"
    path.write_bytes(_field(100, body))
    with pytest.raises(message.DecodeError):
        caffe_pb2.NetParameter.FromString(path.read_bytes())

    weights = read_caffemodel(path)
    assert [(l.name, l.type) for l in weights.layer] == [("conv", "Convolution")]
    deploy = caffe_pb2.NetParameter()
    deploy.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(
        dim=[1, 1, 2, 2]
    )
    conv = deploy.layer.add(name="conv", type="Convolution", bottom=["data"], top=["conv"])
    conv.convolution_param.num_output = 1
    conv.convolution_param.kernel_size.append(1)
    conv.convolution_param.bias_term = False
    net = build_net(deploy, weights)
    assert net.layers[0].blobs[0].ravel().tolist() == [3.0]


def test_a_v1_weights_file_reads_names_and_blobs_the_same_way(tmp_path):
    layer = caffe_pb2.V1LayerParameter(name="ip")
    layer.blobs.add(num=1, channels=1, height=1, width=2, data=[1.0, 2.0])
    body = layer.SerializeToString() + _field(149, b"x")  # unknown to V1: kept as unknown
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(_field(2, body))
    weights = read_caffemodel(path)
    assert [l.name for l in weights.layers] == ["ip"]
    assert list(weights.layers[0].blobs[0].data) == [1.0, 2.0]
