"""Every reference model, compiled by caffebatch and run on every backend, against real Caffe.

tests/reference/ holds models that BVLC Caffe ran, with their inputs and outputs. Each
model is scored on every input set at three batch sizes: the set as one batch, one
record at a time, and the batch size the prototxt declares (records repeated to fill it),
on ONNX Runtime and on OpenVINO (skipped where the `openvino` extra is not installed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from caffebatch.caffe.net import build_net
from caffebatch.caffe.read import read_prototxt
from caffebatch.compiler.compile import compile_net
from caffebatch.errors import ModelError
from caffebatch.model import compile_package
from caffebatch.package import open_package
from caffebatch.runtime.scorer import Scorer
from tests.engines import ENGINES

REFERENCE = Path(__file__).parent / "reference"
MODELS = sorted(p.name for p in REFERENCE.iterdir() if (p / "deployment-meta.json").exists())
# BVLC Caffe refuses these, which caffebatch accepts on purpose as the forks define them
# (docs/layers.md): DenseNet-Caffe's pooling ceil_mode, and caffe-yolov3's Upsample.
ACCEPTED_FROM_FORKS = {"ceil_mode_field", "unknown_layer_type"}
INVALID = sorted(
    p.name for p in (REFERENCE / "invalid").iterdir() if p.name not in ACCEPTED_FROM_FORKS
)


def assert_matches_caffe(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Within the tolerance the reference README gives: rtol 1e-4, atol 1e-5 x scale."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != Caffe's {expected.shape}"
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


def input_sets(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """set name -> {input blob -> float32 array}, from inputs.npz's `<set>/<blob>` keys."""
    sets: dict[str, dict[str, np.ndarray]] = {}
    with np.load(folder / "inputs.npz") as data:
        for key in data.files:
            set_name, blob = key.split("/", 1)
            sets.setdefault(set_name, {})[blob] = data[key]
    return sets


def batches(inputs: dict[str, np.ndarray], declared: int):
    """(label, slice of records, feeds) for the batch sizes under test."""
    count = len(next(iter(inputs.values())))
    yield "whole set", slice(0, count), inputs
    for i in range(count):
        yield f"record {i} alone", slice(i, i + 1), {k: v[i : i + 1] for k, v in inputs.items()}
    if declared not in (1, count):
        repeat = -(-declared // count)
        tiled = {k: np.concatenate([v] * repeat)[:declared] for k, v in inputs.items()}
        yield f"declared batch {declared}", slice(0, declared), tiled


@pytest.fixture(scope="module", params=MODELS)
def compiled_reference(request):
    folder = REFERENCE / request.param
    return folder, compile_package(open_package(folder))


@pytest.fixture(scope="module", params=ENGINES)
def reference(request, compiled_reference):
    folder, compiled = compiled_reference
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=1, engine=request.param)
    return folder, compiled, scorer


def test_compiles_to_a_valid_onnx_model_with_a_symbolic_batch_axis(compiled_reference):
    folder, compiled = compiled_reference
    onnx.checker.check_model(compiled.onnx, full_check=True)
    for value in (*compiled.onnx.graph.input, *compiled.onnx.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "N", f"{folder.name}: {value.name}"
    assert [i.name for i in compiled.onnx.graph.input] == list(compiled.inputs)
    assert [o.name for o in compiled.onnx.graph.output] == list(compiled.outputs)


def test_matches_caffe_on_every_set_and_batch_size(reference):
    folder, compiled, scorer = reference
    with np.load(folder / "outputs.npz") as data:
        expected = {key: data[key] for key in data.files}
    for set_name, inputs in input_sets(folder).items():
        count = len(next(iter(inputs.values())))
        for label, records, feeds in batches(inputs, compiled.declared_batch):
            outputs = scorer(feeds)
            for name in compiled.outputs:
                caffe = expected[f"{set_name}/{name}"]
                actual = outputs[name]
                if len(actual) > count:  # the declared batch repeats the set's records
                    caffe = np.concatenate([caffe] * -(-len(actual) // count))[: len(actual)]
                else:
                    caffe = caffe[records]
                what = f"{folder.name} on {scorer.engine}: {set_name} {label} {name}"
                assert_matches_caffe(actual, caffe, what)


@pytest.mark.parametrize("name", INVALID)
def test_models_caffe_refuses_are_refused(name):
    folder = REFERENCE / "invalid" / name
    with pytest.raises(ModelError) as refused:
        net = build_net(read_prototxt(folder / "deploy.prototxt"))
        compile_net(net, [net.layers[-1].tops[0]])
    assert str(refused.value), "the refusal must say why"
