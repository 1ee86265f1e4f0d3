"""Run one model of tests/reference (real Caffe's outputs) through caffebatch, for converter tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer

REFERENCE = Path(__file__).parents[2] / "reference"


def assert_matches_reference(model: str) -> None:
    """Every output of `model` on every input set, within rtol 1e-4 and atol 1e-5 x scale."""
    folder = REFERENCE / model
    compiled = load_model(folder)
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1)
    with np.load(folder / "inputs.npz") as inputs, np.load(folder / "outputs.npz") as expected:
        sets = sorted({key.split("/", 1)[0] for key in inputs.files})
        for set_name in sets:
            feeds = {key.split("/", 1)[1]: inputs[key] for key in inputs.files if key.startswith(f"{set_name}/")}
            outputs = scorer(feeds)
            for name in compiled.outputs:
                caffe = expected[f"{set_name}/{name}"]
                scale = float(np.abs(caffe).max()) or 1.0
                np.testing.assert_allclose(outputs[name], caffe, rtol=1e-4, atol=1e-5 * scale,
                                           err_msg=f"{model} {set_name} {name}")
