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
