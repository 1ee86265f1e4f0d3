"""Run a model of tests/reference (real Caffe's outputs) through caffebatch, for converter tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caffebatch.compiler.compile import compile_net
from caffebatch.model import load_model, load_net
from caffebatch.package import open_package
from caffebatch.runtime.scorer import Scorer
from tests.engines import INSTALLED

REFERENCE = Path(__file__).parents[2] / "reference"


def assert_matches_reference(model: str, outputs: dict[str, str] | None = None) -> None:
    """Every output of `model` on every input set, within rtol 1e-4 and atol 1e-5 x scale,
    on every installed backend (ONNX Runtime, and OpenVINO where its extra is installed).

    `outputs` maps output names to ask caffebatch for to the names of Caffe's outputs
    (default: the outputs deployment-meta.json names, under their own names).
    """
    folder = REFERENCE / model
    if outputs is None:
        compiled = load_model(folder)
        outputs = {name: name for name in compiled.outputs}
    else:
        compiled = compile_net(load_net(open_package(folder)), list(outputs))
    for engine in INSTALLED:
        _check(folder, Scorer(compiled.onnx.SerializeToString(), threads=1, engine=engine), outputs)


def _check(folder: Path, scorer: Scorer, outputs: dict[str, str]) -> None:
    model = f"{folder.name} on {scorer.engine}"
    with np.load(folder / "inputs.npz") as inputs, np.load(folder / "outputs.npz") as expected:
        sets = sorted({key.split("/", 1)[0] for key in inputs.files})
        for set_name in sets:
            feeds = {
                key.split("/", 1)[1]: inputs[key]
                for key in inputs.files
                if key.startswith(f"{set_name}/")
            }
            scored = scorer(feeds)
            for name, caffe_name in outputs.items():
                caffe = expected[f"{set_name}/{caffe_name}"]
                scale = float(np.abs(caffe).max()) or 1.0
                np.testing.assert_allclose(
                    scored[name],
                    caffe,
                    rtol=1e-4,
                    atol=1e-5 * scale,
                    err_msg=f"{model} {set_name} {name}",
                )
