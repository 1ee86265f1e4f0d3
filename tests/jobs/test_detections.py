"""SSD detections through a whole run: each record's result holds its own rows.

The model is examples/squares-ssd, its inputs examples/squares/inputs: four images with
1, 2, 4 and no squares. Whatever shares a record's batch, its result is what Caffe gives
for it alone in a batch of one, through the CLI, the local executor and a ChunkWorker
(what the Ray executor runs on each worker).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import orjson
import pytest

from caffebatch.inputs import InputSpec
from caffebatch.jobs import Location, RunOptions
from caffebatch.jobs.executors.chunked import ChunkWorker, Job
from caffebatch.jobs.storage import open_storage
from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer
from tests.jobs.conftest import ROOT

MODEL = ROOT / "examples/squares-ssd"
INPUTS = ROOT / "examples/squares/inputs"
CLI = [sys.executable, "-c", "from caffebatch.cli import main; main()"]
NONE = [[0, -1, -1, -1, -1, -1, -1]]
# Each image's detections: [0, label, score, xmin, ymin, xmax, ymax], boxes in [0, 1]
EXPECTED_BOXES = {
    "one_square.json": [[0.5, 0.25, 0.75, 0.5]],
    "two_squares.json": [[0, 0, 0.25, 0.25], [0.75, 0.75, 1, 1]],
    "big_square.json": [[0, 0.5, 0.25, 0.75], [0.25, 0.5, 0.5, 0.75], [0, 0.75, 0.25, 1],
                        [0.25, 0.75, 0.5, 1]],
    "off_grid.json": [],
}


@pytest.fixture(scope="module")
def squares():
    return load_model(MODEL)


@pytest.fixture(scope="module")
def alone(squares) -> dict[str, np.ndarray]:
    """Each image's detection blob scored in a batch of one, batch axis dropped."""
    scorer = Scorer(squares.onnx.SerializeToString(), threads=1)
    blobs = {}
    for name in EXPECTED_BOXES:
        data = np.asarray(orjson.loads((INPUTS / name).read_bytes())["data"], np.float32)
        blobs[name] = scorer({"data": data})["detection_out"][0]
    return blobs


def _results(folder) -> dict[str, np.ndarray]:
    return {
        name: np.asarray(orjson.loads((folder / name).read_bytes())[name]["detection_out"],
                         np.float32)
        for name in EXPECTED_BOXES
    }


def test_the_example_finds_its_squares(alone):
    for name, boxes in EXPECTED_BOXES.items():
        rows = alone[name][0]
        if not boxes:
            np.testing.assert_array_equal(rows, NONE)
            continue
        np.testing.assert_array_equal(rows[:, :2], [[0, 1]] * len(boxes))
        assert np.all(rows[:, 2] > 0.999)
        np.testing.assert_allclose(rows[:, 3:], boxes, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3])  # the README test runs the default, 32
def test_score_writes_each_records_own_rows(batch_size, alone, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "score", str(MODEL), "--input", str(INPUTS), "--output", str(out),
         "--batch-size", str(batch_size), "--run-id", "det"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "4 scored, 0 failed" in result.stdout
    for name, rows in _results(out).items():
        np.testing.assert_array_equal(rows, alone[name], err_msg=f"{name} at batch {batch_size}")


def test_a_chunk_worker_writes_each_records_own_rows(squares, alone, tmp_path):
    options = RunOptions(run_id="det-chunk", concurrency=2)
    job = Job(Location(str(INPUTS)), Location(str(tmp_path)), squares.onnx.SerializeToString(),
              InputSpec(squares.inputs), options, batch_size=4, threads=1)
    worker = ChunkWorker(job)
    try:
        entries = sorted(open_storage(job.source, options.retry).list(), key=lambda e: e.key)
        assert worker.process(entries).written == 4
    finally:
        worker.close()
    for name, rows in _results(tmp_path).items():
        np.testing.assert_array_equal(rows, alone[name], err_msg=name)


def test_the_readme_shows_what_show_py_prints(tmp_path):
    out = tmp_path / "out"
    subprocess.run([*CLI, "score", str(MODEL), "--input", str(INPUTS), "--output", str(out)],
                   check=True, capture_output=True, timeout=120)
    shown = subprocess.run([sys.executable, str(ROOT / "examples/squares/show.py"), str(out)],
                           check=True, capture_output=True, text=True).stdout
    readme = (ROOT / "examples/squares/README.md").read_text()
    assert shown in readme
    for name in ("two_squares.json", "off_grid.json"):
        assert (out / name).read_text() in readme


def test_make_weights_writes_the_committed_weights():
    spec = importlib.util.spec_from_file_location("make_weights", MODEL / "make_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.caffemodel() == (MODEL / "squares.caffemodel").read_bytes()
    for name, data in module.EXAMPLES.items():
        assert orjson.loads((INPUTS / name).read_bytes())["data"] == data


def test_opencv_finds_the_same_squares(alone):
    import cv2

    model = cv2.dnn.readNetFromCaffe(str(MODEL / "deploy.prototxt"),
                                     str(MODEL / "squares.caffemodel"))
    for name, rows in alone.items():
        data = np.asarray(orjson.loads((INPUTS / name).read_bytes())["data"], np.float32)
        model.setInput(data)
        theirs = model.forward().reshape(-1, 7)
        theirs = theirs[theirs[:, 2] > 0]  # OpenCV pads with zero rows
        ours = rows[0][rows[0][:, 1] >= 0]
        np.testing.assert_allclose(theirs[np.lexsort(theirs.T[::-1])],
                                   ours[np.lexsort(ours.T[::-1])], rtol=1e-5, atol=1e-6)
