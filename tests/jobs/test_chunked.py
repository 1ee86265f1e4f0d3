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


def test_the_threads_are_split_among_the_forward_passes() -> None:
    from caffebatch.jobs.executors.chunked import DEFAULT_PASSES, scoring_split

    assert DEFAULT_PASSES == 2
    assert scoring_split(2, None) == (2, 1)
    assert scoring_split(8, None) == (2, 4)
    assert scoring_split(1, None) == (1, 1)  # never more passes than threads
    assert scoring_split(4, 1) == (1, 4)
    assert scoring_split(4, 4) == (4, 1)
    assert scoring_split(5, 2) == (2, 2)


class _Overlaps:
    """A real Scorer that notes how many of its calls were under way at once."""

    def __init__(self, scorer) -> None:
        self.scorer, self.layouts = scorer, scorer.layouts
        self.now = self.most = 0
        self.lock = threading.Lock()
        self.both = threading.Barrier(2, timeout=5)

    def __call__(self, feeds):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            self.both.wait()  # two passes at once meet here; one at a time would time out
            return self.scorer(feeds)
        finally:
            with self.lock:
                self.now -= 1


def test_a_worker_scores_as_many_batches_at_once_as_it_has_passes(lenet, lenet_scorer, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    options = RunOptions(run_id="chunk-passes")
    scorer = _Overlaps(lenet_scorer)
    job = Job(Location(str(DIGITS)), Location(str(tmp_path)), lenet.onnx.SerializeToString(),
              InputSpec(lenet.inputs), options, batch_size=8, scorer=scorer, passes=2)
    worker = ChunkWorker(job)
    entries = sorted(open_storage(job.source, options.retry).list(), key=lambda e: e.key)[:16]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(worker.process, [entries[:8], entries[8:]]))
    worker.close()
    assert [outcome.written for outcome in outcomes] == [8, 8]
    assert scorer.most == 2
    assert len(list(tmp_path.glob("*.json"))) == 16
