"""A compiled model saved with its version loads back as the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from caffebatch.compiler.artifact import load_compiled, load_layers, save_compiled
from caffebatch.errors import ModelError
from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer

LENET = Path(__file__).parents[2] / "examples" / "lenet"


def test_saved_model_loads_back_and_scores_the_same(tmp_path):
    compiled = load_model(LENET)
    save_compiled(compiled, tmp_path)
    loaded = load_compiled(tmp_path)
    assert loaded.inputs == compiled.inputs
    assert loaded.outputs == compiled.outputs
    assert loaded.declared_batch == compiled.declared_batch
    assert loaded.layers == compiled.layers == load_layers(tmp_path)
    assert loaded.labels == compiled.labels == tuple("0123456789")
    assert loaded.transforms.keys() == compiled.transforms.keys() == {"data"}
    assert loaded.transforms["data"].to_json() == compiled.transforms["data"].to_json()
    records = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    before = Scorer(compiled.onnx.SerializeToString(), threads=1)({"data": records})
    after = Scorer(loaded.onnx.SerializeToString(), threads=1)({"data": records})
    np.testing.assert_array_equal(after["prob"], before["prob"])


def test_a_folder_without_a_compiled_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no readable compiled model"):
        load_compiled(tmp_path)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (b"[]", r"lacks \['inputs', 'outputs', 'declared_batch', 'layers'\]"),
        (b'{"inputs": {}, "outputs": []}', r"lacks \['declared_batch', 'layers'\]"),
        (b'{"inputs": {}, "outputs": [], "declared_batch": 1, "layers": [{"name": "x"}]}',
         r"a layer in compiled.json is malformed"),
    ],
)
def test_a_malformed_compiled_json_is_a_model_error(tmp_path, meta, message):
    save_compiled(load_model(LENET), tmp_path)
    (tmp_path / "compiled.json").write_bytes(meta)
    with pytest.raises(ModelError, match=message):
        load_layers(tmp_path)


def test_a_mean_image_transform_survives_the_round_trip(tmp_path):
    from caffebatch.inputs.transform import Transform

    mean = np.arange(24, dtype=np.float32).reshape(2 * 3, 2, 2)[:3]
    transform = Transform(height=2, width=2, channels=3, crop=True, swap_rb=True,
                          grayscale=False, mean=mean, scale=0.017)
    again = Transform.from_json(transform.to_json())
    np.testing.assert_array_equal(again.mean, mean)
    assert again.to_json() == transform.to_json() and again.mean.dtype == np.float32
