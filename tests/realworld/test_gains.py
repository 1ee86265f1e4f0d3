"""filter_gains follows the second moment of what each filter reads (gains.py)."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from caffebatch.caffe.net import build_net
from caffebatch.caffe.proto import caffe_pb2
from tests.realworld.gains import filter_gains

# An inverted-residual block as MobileNetV2 has it: expand, ReLU6, project (linear),
# then a residual sum read by the next expand
BLOCK = """
input: "data" input_shape { dim: 1 dim: 4 dim: 8 dim: 8 }
layer { name: "stem" type: "Convolution" bottom: "data" top: "stem"
        convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "expand" type: "Convolution" bottom: "stem" top: "expand"
        convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "relu" type: "ReLU6" bottom: "expand" top: "expand" }
layer { name: "pool" type: "Pooling" bottom: "expand" top: "pool"
        pooling_param { pool: MAX kernel_size: 1 } }
layer { name: "project" type: "Convolution" bottom: "pool" top: "project"
        convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "stem" bottom: "project" top: "sum" }
layer { name: "next" type: "Convolution" bottom: "sum" top: "next"
        convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "next" top: "next" }
layer { name: "relu2" type: "ReLU" bottom: "next" top: "next" }
layer { name: "fc" type: "InnerProduct" bottom: "next" top: "fc"
        inner_product_param { num_output: 2 } }
"""


def test_gain_is_one_over_the_second_moment_read():
    net = build_net(text_format.Parse(BLOCK, caffe_pb2.NetParameter()))
    gains = filter_gains(net)
    assert gains["stem"] == pytest.approx(3)  # uniform input on [-1, 1]: E[x^2] = 1/3
    assert gains["expand"] == pytest.approx(1)  # LeCun's: a filter's output is linear
    assert gains["project"] == pytest.approx(2)  # He's: after a rectifier, through a pool
    assert gains["next"] == pytest.approx(1 / 2)  # a sum of two moment-1 terms
    assert gains["fc"] == pytest.approx(2)  # BatchNorm passes the moment, ReLU halves it
