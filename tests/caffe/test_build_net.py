"""build_net: TEST-phase layers, inputs, unique value names, Caffe's refusals, weights by name."""

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from caffebatch.caffe.net import HANDLED_BY_NET, TRAINING_ONLY, build_net
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.caffe.read import read_caffemodel, read_prototxt
from caffebatch.errors import LayerError, NetError, WeightsError

REFERENCE = Path(__file__).parents[1] / "reference"
INPUT = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }\n'


def parse(text: str) -> caffe_pb2.NetParameter:
    return text_format.Parse(text, caffe_pb2.NetParameter())


def names(net) -> list[str]:
    return [layer.name for layer in net.layers]


# --- plain nets and weights ----------------------------------------------------------


def test_lenet_deploy_with_its_training_snapshot():
    net = build_net(
        read_prototxt(REFERENCE / "lenet" / "deploy.prototxt"),
        read_caffemodel(REFERENCE / "lenet" / "lenet_iter_2000.caffemodel"),
    )
    assert net.inputs == {"data": (64, 1, 28, 28)}
    assert net.input_layers == {"data": "data"}
    assert names(net) == ["conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "prob"]
    # The snapshot's MemoryData and SoftmaxWithLoss layers have no deploy layer: ignored.
    layers = {layer.name: layer for layer in net.layers}
    assert [b.shape for b in layers["ip1"].blobs] == [(500, 800), (500,)]
    snapshot = read_caffemodel(REFERENCE / "lenet" / "lenet_iter_2000.caffemodel")
    stored = next(layer for layer in snapshot.layer if layer.name == "conv1").blobs[0].data
    np.testing.assert_array_equal(layers["conv1"].blobs[0].ravel(), np.asarray(stored, np.float32))
    assert layers["conv1"].blobs[0].dtype == np.float32
    assert not layers["conv1"].blobs[0].flags.writeable
    assert layers["relu1"].tops == ("ip1@relu1",)
    assert net.resolve("relu1") == "ip1@relu1" and net.latest["ip1"] == "ip1@relu1"
    assert not layers["conv1"].param.blobs, "weights live in Layer.blobs, not in the param"


def test_weights_in_the_prototxt_are_kept_unless_the_caffemodel_has_the_layer():
    deploy = parse(
        INPUT
        + """
      layer { name: "s1" type: "Scale" bottom: "data" top: "s1" blobs { shape { dim: 3 } data: 1 data: 2 data: 3 } }
      layer { name: "s2" type: "Scale" bottom: "data" top: "s2" blobs { shape { dim: 3 } data: 1 data: 2 data: 3 } }
    """
    )
    weights = parse(
        'layer { name: "s2" type: "Scale" blobs { shape { dim: 3 } double_data: 7 double_data: 8 double_data: 9 } }'
    )
    layers = {layer.name: layer for layer in build_net(deploy, weights).layers}
    assert layers["s1"].blobs[0].tolist() == [1, 2, 3]
    assert layers["s2"].blobs[0].tolist() == [7, 8, 9]


def test_blob_count_mismatch_between_prototxt_and_caffemodel_is_refused():
    deploy = parse(
        INPUT
        + 'layer { name: "s" type: "Scale" bottom: "data" top: "s" blobs { shape { dim: 3 } data: 1 data: 2 data: 3 } }'
    )
    weights = parse('layer { name: "s" type: "Scale" }')
    with pytest.raises(
        WeightsError,
        match=r"'s' \(Scale\): the network definition holds 1 blob\(s\), the weights file 0",
    ):
        build_net(deploy, weights)


def test_blob_whose_data_does_not_fill_its_shape_is_refused():
    deploy = parse(INPUT + 'layer { name: "s" type: "Scale" bottom: "data" top: "s" }')
    weights = parse('layer { name: "s" blobs { shape { dim: 3 } data: 1 data: 2 } }')
    with pytest.raises(
        WeightsError, match=r"weight blob 0 has shape \[3\] \(3 values\) but holds 2"
    ):
        build_net(deploy, weights)


@pytest.mark.parametrize(
    "blob", ["shape { dim: -1 dim: -1 } data: 1", "num: -1 channels: -1 height: 1 width: 1 data: 1"]
)
def test_blob_with_a_negative_dim_is_refused(blob):
    deploy = parse(INPUT + 'layer { name: "s" type: "Scale" bottom: "data" top: "s" }')
    weights = parse(f'layer {{ name: "s" blobs {{ {blob} }} }}')
    with pytest.raises(WeightsError, match=r"weight blob 0 has shape \[-1, -1[^]]*\]; expected dims of 0"):
        build_net(deploy, weights)


def test_v1_format_nets_and_legacy_weight_dims():
    net = build_net(
        read_prototxt(REFERENCE / "zoo_v1_format" / "deploy.prototxt"),
        read_caffemodel(REFERENCE / "zoo_v1_format" / "weights.caffemodel"),
    )
    assert net.inputs == {"data": (1, 3, 12, 12)}
    fc = next(layer for layer in net.layers if layer.name == "fc")
    assert [b.shape for b in fc.blobs] == [(1, 1, 5, 96), (1, 1, 1, 5)]
    assert fc.blob(0, (5, 96)).shape == (5, 96)
    assert fc.blob(1, (5,)).shape == (5,)
    # Caffe's ShapeEquals aligns legacy dims on the right; a mere equal count is not enough.
    with pytest.raises(
        LayerError, match=r"weight blob 0 has shape \(1, 1, 5, 96\), expected \(96, 5\)"
    ):
        fc.blob(0, (96, 5))
    conv1 = next(layer for layer in net.layers if layer.name == "conv1")
    assert conv1.blob(0, (8, 3, 3, 3)).shape == (8, 3, 3, 3)


def test_current_blob_shapes_must_match_exactly():
    net = build_net(
        read_prototxt(REFERENCE / "lenet" / "deploy.prototxt"),
        read_caffemodel(REFERENCE / "lenet" / "lenet_iter_2000.caffemodel"),
    )
    ip2 = next(layer for layer in net.layers if layer.name == "ip2")
    with pytest.raises(LayerError, match="expected \\(1, 1, 10, 500\\)"):
        ip2.blob(0, (1, 1, 10, 500))
    with pytest.raises(LayerError, match="has 2 blob"):
        ip2.blob(2, (10,))


# --- the three ways to declare inputs ------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "shape"),
    [
        ("zoo_inplace_split", (1, 3, 6, 6)),
        ("zoo_legacy_input_shape", (1, 3, 6, 6)),
        ("zoo_v1_format", (1, 3, 12, 12)),
    ],
    ids=["Input layer", "input + input_shape", "input + input_dim"],
)
def test_input_declaration_forms(folder, shape):
    net = build_net(read_prototxt(REFERENCE / folder / "deploy.prototxt"))
    assert net.inputs == {"data": shape}
    assert all(layer.type not in HANDLED_BY_NET for layer in net.layers)


def test_input_layer_with_one_shape_for_several_tops():
    net = build_net(
        parse(
            'layer { name: "in" type: "Input" top: "a" top: "b" input_param { shape { dim: 1 dim: 2 } } }'
        )
    )
    assert net.inputs == {"a": (1, 2), "b": (1, 2)}


def test_input_layer_shape_count_must_fit_its_tops():
    net = parse("""layer { name: "in" type: "Input" top: "a" top: "b" top: "c"
                         input_param { shape { dim: 1 } shape { dim: 2 } } }""")
    with pytest.raises(NetError, match="'in' has 3 top"):
        build_net(net)


def test_a_net_without_inputs_is_refused():
    with pytest.raises(NetError, match="no inputs"):
        # Two data layers: neither is the net's only input (see test_data_input.py)
        build_net(
            parse(
                'layer { name: "d" type: "DummyData" top: "x" } '
                'layer { name: "e" type: "DummyData" top: "y" }'
            )
        )


# --- TEST phase ----------------------------------------------------------------------


def test_layers_follow_caffe_include_and_exclude_rules_for_test_phase():
    net = build_net(
        parse(
            INPUT
            + """
      layer { name: "train_only" type: "ReLU" bottom: "data" top: "a" include { phase: TRAIN } }
      layer { name: "test_only" type: "ReLU" bottom: "data" top: "b" include { phase: TEST } }
      layer { name: "not_in_test" type: "ReLU" bottom: "data" top: "c" exclude { phase: TEST } }
      layer { name: "level_1" type: "ReLU" bottom: "data" top: "d" include { min_level: 1 } }
      layer { name: "max_level_0" type: "ReLU" bottom: "data" top: "e" include { max_level: 0 } }
      layer { name: "needs_stage" type: "ReLU" bottom: "data" top: "f" include { stage: "deploy" } }
      layer { name: "not_stage" type: "ReLU" bottom: "data" top: "g" include { not_stage: "deploy" } }
      layer { name: "either" type: "ReLU" bottom: "data" top: "h" include { phase: TRAIN } include { phase: TEST } }
    """
        )
    )
    assert names(net) == ["test_only", "max_level_0", "not_stage", "either"]


def test_the_net_files_own_state_sets_level_and_stages():
    net = build_net(
        parse(
            'state { phase: TRAIN level: 2 stage: "deploy" }\n'
            + INPUT
            + """
      layer { name: "level_2" type: "ReLU" bottom: "data" top: "a" include { min_level: 2 phase: TEST } }
      layer { name: "deploy" type: "ReLU" bottom: "data" top: "b" include { stage: "deploy" } }
      layer { name: "not_deploy" type: "ReLU" bottom: "data" top: "c" exclude { stage: "deploy" } }
    """
        )
    )
    assert names(net) == ["level_2", "deploy"]


def test_include_and_exclude_together_are_refused():
    with pytest.raises(NetError, match="'r' has both include and exclude"):
        build_net(
            parse(
                INPUT
                + 'layer { name: "r" type: "ReLU" bottom: "data" top: "r" include { phase: TEST } exclude { stage: "x" } }'
            )
        )


def test_layers_inherit_the_test_phase():
    net = build_net(
        parse(INPUT + 'layer { name: "drop" type: "Dropout" bottom: "data" top: "data" }')
    )
    assert net.layers[0].param.phase == caffe_pb2.TEST


def test_reading_a_training_only_top_is_refused_with_a_hint():
    # With an Input layer, a data layer is training-only (else see test_data_input.py).
    net = parse(
        INPUT
        + """
      layer { name: "d" type: "Data" top: "images" data_param { batch_size: 2 } }
      layer { name: "r" type: "ReLU" bottom: "images" top: "r" }
    """
    )
    with pytest.raises(
        NetError, match="comes from training-only layer .*declare 'images' with an Input layer"
    ):
        build_net(net)


def test_a_train_val_net_scores_from_its_test_data_layer():
    train_val = read_prototxt(REFERENCE / "lenet" / "lenet_train_val.prototxt")
    net = build_net(train_val)
    assert net.inputs == {"data": (60, 1, 28, 28)}  # the TEST-phase MemoryData layer
    assert "loss" not in names(net) and "accuracy" not in names(net)


def test_losses_and_accuracy_are_dropped():
    net = build_net(
        parse(
            INPUT
            + """
      layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 2 } } }
      layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
      layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
      layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" include { phase: TEST } }
    """
        )
    )
    assert {"SoftmaxWithLoss", "Accuracy"} <= TRAINING_ONLY.keys()
    assert names(net) == ["ip"]
    assert "loss" not in net.latest and "acc" not in net.latest


# --- blobs and values ----------------------------------------------------------------


def test_in_place_chains_get_unique_value_names_and_fan_out_reads_the_last():
    net = build_net(read_prototxt(REFERENCE / "zoo_inplace_split" / "deploy.prototxt"))
    layers = {layer.name: layer for layer in net.layers}
    assert layers["relu1"].bottoms == ("conv1",) and layers["relu1"].tops == ("conv1@relu1",)
    assert layers["scale1"].bottoms == ("conv1@relu1",) and layers["scale1"].tops == (
        "conv1@scale1",
    )
    assert {layers[name].bottoms for name in ("sig", "tanh", "pool")} == {("conv1@scale1",)}
    assert net.latest["conv1"] == "conv1@scale1"
    values = [net_input for net_input in net.inputs] + [
        top for layer in net.layers for top in layer.tops
    ]
    assert len(values) == len(set(values))


def test_in_place_on_a_blob_another_layer_reads_is_refused_like_caffe():
    # Caffe: Top blob 'conv1' produced by multiple sources.
    with pytest.raises(
        NetError, match="'relu1' works in place on blob 'conv1'.*\\['sig'\\] also read it"
    ):
        build_net(read_prototxt(REFERENCE / "invalid" / "inplace_fanout" / "deploy.prototxt"))


def test_reading_the_in_place_result_afterwards_is_fine():
    net = build_net(
        parse(
            INPUT
            + """
      layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }
      layer { name: "a" type: "Sigmoid" bottom: "data" top: "a" }
      layer { name: "b" type: "TanH" bottom: "data" top: "b" }
    """
        )
    )
    assert [layer.bottoms for layer in net.layers] == [("data",), ("data@relu",), ("data@relu",)]


def test_top_produced_twice_is_refused():
    with pytest.raises(NetError, match="'b' \\(Sigmoid\\): top blob 'a' is already produced"):
        build_net(
            parse(
                INPUT
                + """
          layer { name: "a" type: "ReLU" bottom: "data" top: "a" }
          layer { name: "b" type: "Sigmoid" bottom: "data" top: "a" }
        """
            )
        )


def test_unknown_bottom_is_refused():
    with pytest.raises(NetError, match="'r' \\(ReLU\\): unknown bottom blob 'nothing'"):
        build_net(parse(INPUT + 'layer { name: "r" type: "ReLU" bottom: "nothing" top: "r" }'))


def test_duplicate_layer_names_are_kept_and_the_first_gets_the_weights():
    # BVLC Caffe accepts two layers of one name (HED's deploy has five named "crop");
    # CopyTrainedLayersFrom finds the first layer of a name.
    deploy = parse(
        INPUT
        + """
      layer { name: "s" type: "Scale" bottom: "data" top: "a" blobs { shape { dim: 3 } data: 1 data: 1 data: 1 } }
      layer { name: "s" type: "Scale" bottom: "a" top: "b" blobs { shape { dim: 3 } data: 2 data: 2 data: 2 } }
    """
    )
    weights = parse(
        'layer { name: "s" type: "Scale" blobs { shape { dim: 3 } data: 5 data: 6 data: 7 } }'
    )
    net = build_net(deploy, weights)
    assert names(net) == ["s", "s"]
    first, second = net.layers
    assert first.blobs[0].tolist() == [5, 6, 7]
    assert second.blobs[0].tolist() == [2, 2, 2]
    assert net.resolve("s") == "a", "a layer name means the first layer of that name"
