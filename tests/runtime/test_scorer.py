"""Scorer's session options: spin-waiting can be turned off, and a Scorer keeps it when pickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer, session_options

LENET = Path(__file__).resolve().parents[2] / "examples" / "lenet"
SPINNING = "session.intra_op.allow_spinning"


def test_spinning_is_onnx_runtimes_default_unless_turned_off():
    with pytest.raises(RuntimeError, match="does not have configuration"):
        session_options(2).get_session_config_entry(SPINNING)
    assert session_options(2, spin=False).get_session_config_entry(SPINNING) == "0"


def test_a_scorer_without_spinning_scores_the_same_and_keeps_the_setting_when_pickled():
    model = load_model(LENET).onnx.SerializeToString()
    batch = {"data": np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)}
    quiet = Scorer(model, threads=2, spin=False)
    expected = Scorer(model, threads=2)(batch)["prob"]
    np.testing.assert_array_equal(quiet(batch)["prob"], expected)
    rebuilt = pickle.loads(pickle.dumps(quiet))
    np.testing.assert_array_equal(rebuilt(batch)["prob"], expected)
    assert rebuilt.__reduce__()[1][3] is False  # spin, as given


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_a_scorer_built_for_two_calls_at_once_takes_them_and_keeps_its_streams(engine):
    """A run calls its Scorer from two passes at once; OpenVINO compiles a stream for each."""
    from concurrent.futures import ThreadPoolExecutor

    if engine == "openvino":
        pytest.importorskip("openvino")
    model = load_model(LENET).onnx.SerializeToString()
    rng = np.random.default_rng(1)
    batches = [{"data": rng.random((16, 1, 28, 28), dtype=np.float32)} for _ in range(6)]
    expected = [Scorer(model, threads=1)(batch)["prob"] for batch in batches]
    scorer = Scorer(model, threads=1, spin=False, engine=engine, streams=2)
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda batch: scorer(batch)["prob"], batches * 4))
    for index, probs in enumerate(got):
        np.testing.assert_allclose(probs, expected[index % 6], rtol=1e-4, atol=1e-6)
    assert pickle.loads(pickle.dumps(scorer)).__reduce__()[1][6] == 2  # streams, as given
    if engine == "openvino":
        assert scorer._session._config["NUM_STREAMS"] == 2
