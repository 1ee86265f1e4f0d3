"""engine = auto keeps the fastest backend whose outputs match ONNX Runtime's, never another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from caffebatch.compiler.artifact import load_compiled, save_compiled
from caffebatch.errors import ModelError
from caffebatch.model import choose_engine, load_model
from caffebatch.runtime.backends import BACKENDS, BF16, ONNXRUNTIME, OPENVINO, cpu_has_bf16
from caffebatch.runtime.choice import deviation_line, pick, probe
from caffebatch.runtime.scorer import Scorer
from tests.engines import INSTALLED

LENET = Path(__file__).parents[2] / "examples" / "lenet"
needs_openvino = pytest.mark.skipif(OPENVINO not in INSTALLED, reason="openvino not installed")


@pytest.fixture(scope="module")
def lenet():
    return load_model(LENET)


def cheap_lookalike() -> bytes:
    """LeNet's input and output, but one 784x10 product: 300x fewer MACs, other outputs."""
    weights = np.random.default_rng(1).standard_normal((784, 10)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["data"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
        ],
        "lookalike",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(weights, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@needs_openvino
def test_a_faster_backend_with_other_outputs_is_never_chosen(lenet):
    reference = Scorer(lenet.onnx.SerializeToString(), threads=1, spin=False)
    wrong = Scorer(cheap_lookalike(), threads=1, engine=OPENVINO)
    # batch 512: LeNet takes about 25 ms, far above the ms OpenVINO can lose waking its
    # threads on a loaded machine
    choice = pick(reference, {OPENVINO: wrong}, probe(lenet.inputs, 512))
    trials = {trial.engine: trial for trial in choice.trials}
    # The precondition that makes this test mean something: the wrong one is much faster.
    assert trials[OPENVINO].relative_time < 0.5
    assert not trials[OPENVINO].matches and trials[OPENVINO].deviation > 1e-2
    assert choice.engine == ONNXRUNTIME


@needs_openvino
@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no AMX or AVX512-BF16")
def test_openvino_at_bfloat16_differs_from_caffe_and_is_never_chosen(lenet):
    model = lenet.onnx.SerializeToString()
    reference = Scorer(model, threads=1, spin=False)
    bf16 = Scorer(model, threads=1, engine=OPENVINO, precision=BF16)
    choice = pick(reference, {"openvino-bf16": bf16}, probe(lenet.inputs, 64))
    (_, trial) = choice.trials
    assert not trial.matches and trial.deviation > 1e-4  # 6.5e-3 measured on Intel AMX
    assert choice.engine == ONNXRUNTIME


@needs_openvino
def test_a_matching_backend_is_kept_only_when_faster(lenet):
    model = lenet.onnx.SerializeToString()
    slow = Scorer(model, threads=1, spin=False)
    fast = Scorer(cheap_lookalike(), threads=1, engine=OPENVINO)
    reference = Scorer(cheap_lookalike(), threads=1, spin=False)
    # the lookalike on OpenVINO matches itself on ONNX Runtime; LeNet on ORT is the slow one
    choice = pick(reference, {OPENVINO: fast}, probe(lenet.inputs, 512))
    assert {t.engine: t.matches for t in choice.trials} == {ONNXRUNTIME: True, OPENVINO: True}
    (_, candidate) = choice.trials
    assert choice.engine == (OPENVINO if candidate.relative_time * 1.1 < 1 else ONNXRUNTIME)
    assert pick(slow, {}, probe(lenet.inputs, 4)).engine == ONNXRUNTIME


@needs_openvino
def test_the_choice_is_recorded_with_the_compiled_model_and_reused(lenet, tmp_path):
    chosen = choose_engine(lenet, "auto", batch=16)
    assert chosen.engine in (ONNXRUNTIME, OPENVINO)
    assert {t["engine"] for t in chosen.engine_choice["trials"]} == {ONNXRUNTIME, OPENVINO}
    save_compiled(chosen, tmp_path)
    loaded = load_compiled(tmp_path)
    assert (loaded.engine, loaded.engine_choice) == (chosen.engine, chosen.engine_choice)
    again = choose_engine(loaded, "auto", batch=16)
    assert again.engine_choices == loaded.engine_choices  # not measured again
    assert again.engine_choice == loaded.engine_choice
    assert choose_engine(loaded, ONNXRUNTIME, batch=16).engine == ONNXRUNTIME  # named wins


@needs_openvino
def test_auto_measures_at_the_batch_size_the_run_uses_and_keeps_each(lenet, tmp_path):
    at_16 = choose_engine(lenet, "auto", batch=16)
    at_64 = choose_engine(at_16, "auto", batch=64)
    assert at_64.engine_choice["batch"] == 64
    assert [c["batch"] for c in at_64.engine_choices] == [16, 64]
    save_compiled(at_64, tmp_path)
    back_to_16 = choose_engine(load_compiled(tmp_path), "auto", batch=16)
    assert back_to_16.engine_choice == at_16.engine_choice  # the recorded one, not a new one
    assert len(back_to_16.engine_choices) == 2


@needs_openvino
@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no AMX or AVX512-BF16")
def test_bf16_when_asked_for_runs_on_a_backend_offering_it_and_records_its_deviation(lenet):
    chosen = choose_engine(lenet, "auto", batch=64, precision=BF16)
    assert (chosen.engine, chosen.precision) == (OPENVINO, BF16)
    choice = chosen.engine_choice
    assert choice["precision"] == BF16
    kept = next(t for t in choice["trials"] if t["engine"] == OPENVINO)
    reference = next(t for t in choice["trials"] if t["engine"] == ONNXRUNTIME)
    assert reference["precision"] == "f32" and reference["deviation"] == 0.0
    # bf16 keeps 8 bits of mantissa: far outside Caffe's 1e-4, but not garbage
    assert 1e-4 < kept["deviation"] < 0.1 and kept["max_abs"] > 0 and not kept["matches"]
    line = deviation_line(choice)
    assert line is not None and f"{kept['max_abs']:.2e} absolute" in line
    assert f"{kept['deviation']:.2e} relative" in line and "batch of 64" in line
    scorer = Scorer(chosen.onnx.SerializeToString(), engine=chosen.engine,
                    precision=chosen.precision)
    assert scorer.providers == ["OpenVINO CPU (bf16)"]
    # an f32 run of the same model measures (and records) its own choice
    exact = choose_engine(chosen, "auto", batch=64)
    assert exact.precision == "f32" and exact.engine_choice["precision"] == "f32"
    assert len(exact.engine_choices) == 2 and deviation_line(exact.engine_choice) is None


def test_bf16_is_refused_on_a_backend_that_does_not_offer_it(lenet):
    with pytest.raises(ModelError, match="cannot run at precision 'bf16'"):
        choose_engine(lenet, ONNXRUNTIME, batch=4, precision=BF16)


def test_a_model_saved_before_engines_were_chosen_loads_with_none(lenet, tmp_path):
    save_compiled(lenet, tmp_path)
    meta = (tmp_path / "compiled.json").read_text()
    (tmp_path / "compiled.json").write_text(
        meta.replace('"engine": null,', "").replace('"engine_choice": null', '"_": 0')
    )
    loaded = load_compiled(tmp_path)
    assert loaded.engine is None and loaded.engine_choice is None
    assert (loaded.precision, loaded.engine_choices) == ("f32", ())
    assert Scorer(loaded.onnx.SerializeToString(), engine=loaded.engine).engine == ONNXRUNTIME
    onnx.checker.check_model(loaded.onnx)


def lookalike_with_other_rows() -> bytes:
    """LeNet's input, and an output with one row more than LeNet's `prob`."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["data"], ["flat"]),
         helper.make_node("Slice", ["flat", "start", "end", "axis"], ["prob"])],
        "rows",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 11])],
        [numpy_helper.from_array(np.array([v], np.int64), n)
         for n, v in (("start", 0), ("end", 11), ("axis", 1))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@needs_openvino
def test_outputs_of_another_shape_are_said_so_not_a_zero_deviation(lenet):
    reference = Scorer(lenet.onnx.SerializeToString(), threads=1, spin=False)
    other = Scorer(lookalike_with_other_rows(), threads=1, engine=OPENVINO)
    choice = pick(reference, {OPENVINO: other}, probe(lenet.inputs, 4), seconds=0.01)
    trial = next(t for t in choice.trials if t.engine == OPENVINO)
    assert not trial.matches and choice.engine == ONNXRUNTIME
    assert trial.mismatch == "prob: shape (4, 11), expected (4, 10)"


@needs_openvino
def test_auto_never_measures_a_backend_unfaithful_to_an_operator_the_model_holds(lenet):
    from caffebatch.runtime import choice

    assert "TopK" in BACKENDS[OPENVINO].unfaithful
    top = helper.make_graph(
        [helper.make_node("Flatten", ["data"], ["flat"]),
         helper.make_node("TopK", ["flat", "k"], ["prob", "index"], axis=1)],
        "top",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 10]),
         helper.make_tensor_value_info("index", TensorProto.INT64, ["N", 10])],
        [numpy_helper.from_array(np.array([10], np.int64), "k")],
    )
    # inside a Loop's body too, where SSD's NMS keeps its TopK
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), *top.node],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])],
    )
    looped = helper.make_graph(
        [helper.make_node("Loop", ["", ""], [], body=body)], "looped", [], []
    )
    top_k, in_loop = (
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
        for graph in (top, looped)
    )
    assert "TopK" in choice.operators(top_k) and "TopK" in choice.operators(in_loop)
    assert "TopK" not in choice.operators(lenet.onnx.SerializeToString())
    # OpenVINO is installed, yet nothing is measured: ONNX Runtime alone is left
    assert choice.choose(top_k, {"data": (1, 28, 28)}, batch=2) is None
    assert choice.choose(lenet.onnx.SerializeToString(), lenet.inputs, batch=2) is not None
