"""A ChunkWorker does a chunk through the real stages, then lets go of what it holds."""

from __future__ import annotations

import threading

from caffebatch.inputs import InputSpec
from caffebatch.jobs import Location, RunOptions
from caffebatch.jobs.executors.chunked import ChunkWorker, Job
from caffebatch.jobs.storage import open_storage
from tests.jobs.conftest import DIGITS


def _io_threads() -> int:
    return sum(t.name.startswith("chunk-io") for t in threading.enumerate())


def test_a_worker_does_local_files_on_its_own_thread_and_closes_twice(lenet, lenet_scorer, tmp_path):
    options = RunOptions(run_id="chunk-close", concurrency=4)
    job = Job(Location(str(DIGITS)), Location(str(tmp_path)), lenet.onnx.SerializeToString(),
              InputSpec(lenet.inputs), options, batch_size=8, scorer=lenet_scorer)
    before = _io_threads()
    worker = ChunkWorker(job)
    entries = sorted(open_storage(job.source, options.retry).list(), key=lambda e: e.key)[:10]
    outcome = worker.process(entries)
    assert (outcome.written, outcome.failures) == (10, ())
    assert len(list(tmp_path.glob("*.json"))) == 10
    assert _io_threads() == before  # local files: no hand-off to I/O threads

    worker.close()
    worker.close()  # a second close (a teardown after a clean finish) is harmless
    assert _io_threads() == before


def test_a_worker_that_cannot_see_a_local_location_fails_at_start(lenet, tmp_path):
    """As a Ray actor on a node without the driver's folder: one clear error, no record read."""
    import pytest

    from caffebatch.errors import LocationNotFoundError, code_of

    job = Job(Location(str(tmp_path / "not-on-this-node")), Location(str(tmp_path)),
              lenet.onnx.SerializeToString(), InputSpec(lenet.inputs), RunOptions("v"), 8, None,
              1)
    worker = ChunkWorker(job)
    with pytest.raises(LocationNotFoundError, match="not-on-this-node' does not exist on") as error:
        worker.ready()
    assert code_of(error.value, run=True) == "storage_error"
    worker.close()
