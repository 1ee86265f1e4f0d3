"""`caffebatch inspect` and `caffebatch convert`, run as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from caffebatch.runtime.backends import OPENVINO, installed
from caffebatch.runtime.scorer import Scorer

ROOT = Path(__file__).parents[2]
LENET = ROOT / "examples" / "lenet"
REFERENCE = ROOT / "tests" / "reference" / "lenet"


def caffebatch(*args: str) -> subprocess.CompletedProcess:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin",
           "CAFFEBATCH_CACHE_DIR": os.environ["CAFFEBATCH_CACHE_DIR"]}  # tests/conftest.py
    return subprocess.run(
        [str(Path(sys.executable).parent / "caffebatch"), *args],
        check=False, capture_output=True, text=True, timeout=120, env=env,
    )


def test_inspect_lists_layers_shapes_and_macs():
    result = caffebatch("inspect", str(LENET))
    assert result.returncode == 0, result.stderr
    for layer, shape in (("conv1", "N x 20 x 24 x 24"), ("pool2", "N x 50 x 4 x 4"), ("prob", "N x 10")):
        line = next(l for l in result.stdout.splitlines() if f" {layer} " in l)
        assert shape in line, line
    # LeNet's multiply-accumulates per image, as PERFORMANCE.md counts them
    assert "multiply-accumulates per record: 2,293,000" in result.stdout


def test_convert_writes_a_checked_onnx_model_that_scores_like_caffe(tmp_path):
    target = tmp_path / "out" / "lenet.onnx"
    result = caffebatch("convert", str(LENET), "-o", str(target))
    assert result.returncode == 0, result.stderr
    model = onnx.load(target)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["data"]
    assert [o.name for o in model.graph.output] == ["prob"]
    batch_axis = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_axis.dim_param == "N"
    with np.load(REFERENCE / "inputs.npz") as inputs, np.load(REFERENCE / "outputs.npz") as outputs:
        probabilities = Scorer(target.read_bytes(), threads=1)({"data": inputs["b8/data"]})["prob"]
        np.testing.assert_allclose(probabilities, outputs["b8/prob"], rtol=1e-4, atol=1e-5)


def test_a_syntax_error_is_reported_with_file_line_and_column(tmp_path):
    model = tmp_path / "broken"
    shutil.copytree(LENET, model)
    prototxt = model / "deploy.prototxt"
    prototxt.write_text(prototxt.read_text().replace('top: "prob"', "top: \"prob'"))
    result = caffebatch("inspect", str(model))
    assert result.returncode == 1
    # the file is named as it is in the model folder, not by the machine's path to it
    assert "deploy.prototxt:128:8:" in result.stderr
    assert str(tmp_path) not in result.stderr
    line = next(i for i, text in enumerate(prototxt.read_text().splitlines(), 1) if "prob'" in text)
    assert f"deploy.prototxt:{line}:" in result.stderr


def test_an_unsupported_layer_is_named(tmp_path):
    model = tmp_path / "upsample"
    shutil.copytree(LENET, model)
    prototxt = model / "deploy.prototxt"
    prototxt.write_text(prototxt.read_text().replace('type: "ReLU"', 'type: "Upsample"'))
    result = caffebatch("inspect", str(model))
    assert result.returncode == 1
    assert "'relu1' (Upsample)" in result.stderr


def test_convert_to_a_place_it_cannot_write_says_so(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = caffebatch("convert", str(LENET), "-o", str(blocker / "lenet.onnx"))
    assert result.returncode == 1
    assert f"Error: cannot write {blocker / 'lenet.onnx'}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(OPENVINO not in installed(), reason="auto measures nothing without openvino")
def test_inspect_shows_the_engine_score_would_use_and_where_it_is_kept(engine_choices):
    first = caffebatch("inspect", str(LENET), "--engine", "auto", "--batch-size", "16")
    assert first.returncode == 0, first.stderr
    assert "engine: choice kept for the next runs in " + str(engine_choices) in first.stdout
    again = caffebatch("inspect", str(LENET), "--engine", "auto", "--batch-size", "16")
    assert "engine: as measured before on this machine, kept in " in again.stdout
    remeasured = caffebatch("inspect", str(LENET), "--engine", "auto", "--batch-size", "16",
                            "--remeasure")
    assert "engine: choice kept for the next runs in " in remeasured.stdout
