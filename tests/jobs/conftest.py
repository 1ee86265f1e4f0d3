"""Fixtures for batch runs: the real LeNet example, its Caffe reference, a real S3 server."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer
from tests.s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "examples/lenet"
DIGITS = ROOT / "examples/digits/inputs"


@pytest.fixture(scope="session")
def lenet():
    return load_model(LENET)


@pytest.fixture(scope="session")
def lenet_scorer(lenet):
    return Scorer(lenet.onnx.SerializeToString(), threads=1)


@pytest.fixture(scope="session")
def caffe_probs() -> dict[str, np.ndarray]:
    """Real Caffe's probabilities for each example digit, by input name."""
    probs = np.load(ROOT / "tests/reference/lenet/test_set.npz")["prob"]
    return {f"digit_{index:03d}.json": row for index, row in enumerate(probs)}


@pytest.fixture(scope="session")
def s3_server():
    with S3Server() as server:
        yield server


@pytest.fixture
def digits(tmp_path) -> Path:
    """A copy of examples/digits/inputs (360 files) that a test may change."""
    return Path(shutil.copytree(DIGITS, tmp_path / "digits"))


def digit_bytes(count: int | None = None) -> dict[str, bytes]:
    files = sorted(DIGITS.iterdir())[:count]
    return {path.name: path.read_bytes() for path in files}
