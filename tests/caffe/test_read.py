"""read_prototxt and read_caffemodel: good files, positioned syntax errors, bounded sizes."""

from pathlib import Path

import pytest

from caffebatch.caffe.read import read_caffemodel, read_prototxt
from caffebatch.errors import PackageError, PrototxtSyntaxError, WeightsError

REFERENCE = Path(__file__).parents[1] / "reference"

# The seed's own example of a deploy net, with its stray quote on line 11.
SEED_EXAMPLE = """\
layer {
   name: "data"
   type: "Input"
   top: "data"
   input_param { shape: { dim: 64 dim: 1 dim: 28 dim: 28 } }
}
layer {
   name: "prob"
   type: "Softmax"
   bottom: "ip2"
   top: "prob'
}
"""


def test_reads_lenet_deploy_and_snapshot():
    net = read_prototxt(REFERENCE / "lenet" / "deploy.prototxt")
    assert net.name == "LeNet"
    assert [layer.type for layer in net.layer][:2] == ["Input", "Convolution"]
    weights = read_caffemodel(REFERENCE / "lenet" / "lenet_iter_2000.caffemodel")
    conv1 = next(layer for layer in weights.layer if layer.name == "conv1")
    assert list(conv1.blobs[0].shape.dim) == [20, 1, 5, 5]


def test_seed_example_stray_quote_is_reported_with_line_and_column(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text(SEED_EXAMPLE)
    with pytest.raises(PrototxtSyntaxError) as caught:
        read_prototxt(path)
    error = caught.value
    assert (error.line, error.column) == (11, 9)  # the opening quote of "prob'
    assert "quote" in error.reason
    assert str(error).startswith(f"{path}:11:9: ")


def test_unknown_field_is_reported_with_its_layer_and_field(tmp_path):
    # Caffe: 13:63: Message type "caffe.PoolingParameter" has no field named "flip_mode".
    source = REFERENCE / "invalid" / "ceil_mode_field" / "deploy.prototxt"
    path = tmp_path / "deploy.prototxt"
    path.write_text(source.read_text().replace("ceil_mode", "flip_mode"))
    with pytest.raises(PrototxtSyntaxError) as caught:
        read_prototxt(path, shown_as="deploy.prototxt")
    error = caught.value
    assert error.line == 13
    line = path.read_text().splitlines()[12]
    assert line[error.column - 1 :].startswith("flip_mode")
    assert error.reason.startswith("layer 'p': unknown field 'flip_mode' (caffe.PoolingParameter")
    assert str(error).startswith("deploy.prototxt:13:"), "the file as the model folder names it"


def test_non_utf8_prototxt_is_a_syntax_error_with_position(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_bytes(b'name: "x"\nlayer { name: "\xff" }\n')
    with pytest.raises(PrototxtSyntaxError) as caught:
        read_prototxt(path)
    assert (caught.value.line, caught.value.column) == (2, 16)


def test_prototxt_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text('name: "big"\n' + "# padding\n" * 100)
    with pytest.raises(PackageError, match="larger than the limit of 100 bytes"):
        read_prototxt(path, max_bytes=100)


def test_missing_file_is_a_package_error(tmp_path):
    with pytest.raises(PackageError, match="does not exist"):
        read_prototxt(tmp_path / "nope.prototxt")


def test_garbage_weights_name_the_file(tmp_path):
    path = tmp_path / "weights.caffemodel"
    path.write_bytes(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
    with pytest.raises(WeightsError, match="weights.caffemodel"):
        read_caffemodel(path)


def test_a_prototxt_given_as_weights_is_refused(tmp_path):
    path = tmp_path / "weights.caffemodel"
    path.write_bytes((REFERENCE / "lenet" / "deploy.prototxt").read_bytes())
    with pytest.raises(WeightsError, match=r"weights\.caffemodel: not a Caffe weights file"):
        read_caffemodel(path)


def test_weights_over_the_limit_are_refused():
    path = REFERENCE / "lenet" / "lenet_iter_2000.caffemodel"
    with pytest.raises(PackageError, match="limit"):
        read_caffemodel(path, max_bytes=1000)
