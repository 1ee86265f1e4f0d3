"""upgrade_net against Caffe's own upgrade outputs (V1) and a hand-written V0 net."""

from pathlib import Path

import pytest
from google.protobuf import text_format

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.caffe.read import read_caffemodel, read_prototxt
from caffebatch.caffe.upgrade import STEPS, upgrade_net
from caffebatch.errors import NetError

V1_FORMAT = Path(__file__).parents[1] / "reference" / "zoo_v1_format"


def parse(text: str) -> caffe_pb2.NetParameter:
    return text_format.Parse(text, caffe_pb2.NetParameter())


def test_v1_text_upgrades_to_what_caffe_writes():
    original = read_prototxt(V1_FORMAT / "deploy.prototxt")
    upgraded = upgrade_net(original)
    assert upgraded == read_prototxt(V1_FORMAT / "deploy.upgraded.prototxt")
    assert original.layers, "upgrade_net returns a copy and leaves its argument alone"


def test_v1_binary_upgrades_to_what_caffe_writes():
    upgraded = upgrade_net(read_caffemodel(V1_FORMAT / "weights.caffemodel"))
    assert upgraded == read_caffemodel(V1_FORMAT / "weights.upgraded.caffemodel")


def test_current_nets_pass_unchanged():
    current = read_prototxt(V1_FORMAT / "deploy.upgraded.prototxt")
    assert upgrade_net(current) == current
    assert not any(step.needs(current) for step in STEPS)


V0_NET = """
name: "v0"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers {
  layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 stride: 2 group: 1
          biasterm: false weight_filler { type: "gaussian" std: 0.1 }
          blobs_lr: 1 weight_decay: 1 }
  bottom: "pad1" top: "conv1"
}
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 2 stride: 2 } bottom: "conv1" top: "pool1" }
layers { layer { name: "norm1" type: "lrn" local_size: 3 alpha: 0.5 beta: 0.6 } bottom: "pool1" top: "norm1" }
layers { layer { name: "fc" type: "innerproduct" num_output: 10 } bottom: "norm1" top: "fc" }
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.3 } bottom: "fc" top: "fc" }
layers { layer { name: "prob" type: "softmax" } bottom: "fc" top: "prob" }
"""

V0_UPGRADED = """
name: "v0"
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer {
  name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  param { lr_mult: 1 decay_mult: 1 }
  convolution_param { num_output: 4 bias_term: false pad: 2 kernel_size: 3 group: 1 stride: 2
                      weight_filler { type: "gaussian" std: 0.1 } }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1"
        lrn_param { local_size: 3 alpha: 0.5 beta: 0.6 } }
layer { name: "fc" type: "InnerProduct" bottom: "norm1" top: "fc" inner_product_param { num_output: 10 } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" dropout_param { dropout_ratio: 0.3 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def test_v0_net_upgrades_with_padding_folded_into_the_convolution():
    assert upgrade_net(parse(V0_NET)) == parse(V0_UPGRADED)


def test_v0_padding_before_a_layer_that_cannot_pad_is_refused():
    net = parse("""
      layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
      layers { layer { name: "relu" type: "relu" } bottom: "pad1" top: "r" }
    """)
    with pytest.raises(NetError, match="'pad1' feeds layer 'relu'"):
        upgrade_net(net)


def test_v0_unknown_type_is_refused():
    with pytest.raises(NetError, match="'x' has unknown type 'warp'"):
        upgrade_net(parse('layers { layer { name: "x" type: "warp" } }'))


def test_v0_field_of_another_layer_type_is_refused():
    with pytest.raises(NetError, match="'r' of type 'relu' has unexpected field 'num_output'"):
        upgrade_net(parse('layers { layer { name: "r" type: "relu" num_output: 3 } }'))


def test_both_layer_and_layers_is_refused():
    with pytest.raises(NetError, match="both 'layer' and"):
        upgrade_net(parse('layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }'))


def test_net_level_input_shape_becomes_an_input_layer_first():
    net = upgrade_net(
        parse("""
      input: "a" input_shape { dim: 2 dim: 5 }
      input: "b" input_shape { dim: 2 dim: 7 }
      layer { name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" }
    """)
    )
    assert not net.input and not net.input_shape and not net.input_dim
    first = net.layer[0]
    assert (first.name, first.type, list(first.top)) == ("input", "Input", ["a", "b"])
    assert [list(s.dim) for s in first.input_param.shape] == [[2, 5], [2, 7]]
    assert net.layer[1].name == "c"


def test_net_level_input_with_wrong_dim_count_is_refused():
    with pytest.raises(NetError, match="4 input_dim each"):
        upgrade_net(parse('input: "a" input_dim: 1 input_dim: 2'))


def test_old_batch_norm_param_specs_are_dropped():
    net = upgrade_net(
        parse("""
      layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x"
              param { lr_mult: 0 } param { lr_mult: 0 } param { lr_mult: 0 } }
    """)
    )
    assert len(net.layer[0].param) == 0
