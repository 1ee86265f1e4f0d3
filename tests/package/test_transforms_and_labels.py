"""deployment-meta.json's `transform` and `labels_file_name`: validated at load, on the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from caffebatch.errors import PackageError
from caffebatch.inputs import TransformSpec
from caffebatch.inputs.transform import resolve
from caffebatch.model import load_model

EXAMPLE = Path(__file__).parents[2] / "examples" / "lenet"


@pytest.fixture
def model(tmp_path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "model"))


def set_meta(folder: Path, **changes: object) -> None:
    path = folder / "deployment-meta.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps({k: v for k, v in meta.items() if v is not None}))


def test_the_example_declares_its_transform_and_labels():
    model = load_model(EXAMPLE)
    assert model.labels == tuple(str(digit) for digit in range(10))
    transform = model.transforms["data"]
    assert (transform.height, transform.width, transform.channels) == (28, 28, 1)
    assert transform.grayscale and transform.scale == 0.00390625 and not transform.crop


def test_a_model_without_declarations_gets_the_default_transform_and_no_labels(model):
    set_meta(model, transform=None, labels_file_name=None)
    loaded = load_model(model)
    assert loaded.labels is None
    assert loaded.transforms["data"].scale == 1.0 and loaded.transforms["data"].grayscale


def test_an_override_replaces_the_declared_transform_of_its_layer(model):
    loaded = load_model(model, {"data": TransformSpec(scale=0.5, mean=(1.0,))})
    assert loaded.transforms["data"].scale == 0.5
    assert loaded.transforms["data"].mean.ravel().tolist() == [1.0]


@pytest.mark.parametrize(("transform", "message"), [
    ({"data": {"scale": "big"}}, r"input layer 'data': scale: Input should be a valid number"),
    ({"data": {"resize": "fit"}}, r"resize: Input should be 'stretch' or 'crop' \(got 'fit'\)"),
    ({"data": {"channel_order": "bgr"}}, r"channel_order: Input should be 'BGR' or 'RGB'"),
    ({"data": {"size": [28]}}, r"size.1: Field required \(got \[28\]\)"),
    ({"data": {"size": [28, 0]}}, r"size.1: Input should be greater than 0"),
    ({"data": {"scale": 0}}, r"scale must be a finite, non-zero number"),
    ({"data": {"mean": "../mean.binaryproto"}}, r"a plain file name in the model package"),
    ({"data": {"flip": True}}, r"flip: Extra inputs are not permitted"),
    ({"data": 3}, r"input layer 'data': the value: "),
    ([], r"'transform' must be an object keyed by input layer, got list"),
    ({"image": {}}, r"'transform' names \['image'\], which are not in 'input_layers'"),
    ({"data": {"size": [32, 32]}}, r"size \[32, 32\] differs from the layer's \[H, W\] \[28, 28\]"),
    ({"data": {"mean": [1, 2, 3]}}, r"mean has 3 values; the layer has 1 channel"),
])
def test_a_bad_transform_is_refused_naming_the_layer_and_field(model, transform, message):
    set_meta(model, transform=transform)
    with pytest.raises(PackageError, match=message):
        load_model(model)


def test_a_transform_needs_an_image_shaped_layer():
    with pytest.raises(PackageError, match=r"the layer's shape is \[10\]"):
        resolve(TransformSpec(), "v", (10,), Path("."))
    with pytest.raises(PackageError, match="grayscale makes 1 channel; the layer has 3"):
        resolve(TransformSpec(grayscale=True), "data", (3, 8, 8), Path("."))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "holds no class names"),
    (b"zero\n\none\n", r"line 2: empty"),
    (b"caf\xe9\n", "is not UTF-8 text"),
])
def test_a_bad_labels_file_is_refused(model, content, message):
    (model / "labels.txt").write_bytes(content)
    with pytest.raises(PackageError, match=message):
        load_model(model)


def test_a_missing_labels_file_is_refused(model):
    set_meta(model, labels_file_name="synset_words.txt")
    with pytest.raises(PackageError, match="labels_file_name 'synset_words.txt', which the package"):
        load_model(model)


def test_labels_keep_their_text_and_order(model):
    (model / "labels.txt").write_bytes("\ufeffn01440764 tench, Tinca tinca\r\nn01443537 goldfish\n\n"
                                       .encode())
    assert load_model(model).labels == ("n01440764 tench, Tinca tinca", "n01443537 goldfish")
