"""Chunks of work that a remote worker does whole: fetch, decode, score and write a few inputs.

An executor that runs on other machines (Ray) cannot stream every record through the driver:
the driver would become the bottleneck and hold the data. So the driver keeps only the
listing (streamed, as locally) and hands out chunks of keys; a `ChunkWorker` on the cluster
opens the storages itself, loads its model once, and turns a chunk into results in the
target plus an `Outcome`: how many it wrote and which inputs failed, and why.

The worker uses the same stage functions as the local pipeline (pipeline.load, score,
batches.results), so results and error reports are the same bytes. No Ray in this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from caffebatch.jobs import pipeline
from caffebatch.jobs.batches import batches, results
from caffebatch.jobs.pipeline import Failure
from caffebatch.jobs.records import Record
from caffebatch.jobs.report import RunReport
from caffebatch.jobs.spec import Location, RunOptions
from caffebatch.jobs.storage import Entry, Storage, open_storage
from caffebatch.runtime.scorer import Scorer


@dataclass(frozen=True)
class Job:
    """All a worker needs to do its chunks, as plain picklable values.

    `scorer` is shipped as is when the caller gave one; otherwise each worker builds its
    own from `model` with `threads` threads and the execution providers of its machine
    (CUDA where the worker has a GPU).
    """

    source: Location
    target: Location
    model: bytes
    inputs: Mapping[str, tuple[int, ...]]
    options: RunOptions
    batch_size: int
    scorer: Scorer | None = None
    threads: int | None = None
    engine: str | None = None  # the Scorer's backend (None: ONNX Runtime)


@dataclass(frozen=True)
class Outcome:
    """What one chunk came to: results written, and the inputs that failed (in key order)."""

    written: int
    failures: tuple[Failure, ...]


class ChunkWorker:
    """Does whole chunks of a Job. Built once per worker process (a Ray actor, say)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._scorer = job.scorer
        self._source: Storage | None = None
        self._target: Storage | None = None
        self._pool = ThreadPoolExecutor(job.options.concurrency, thread_name_prefix="chunk-io")

    def ready(self) -> bool:
        """Open the storages and load the model; raises what stands in the way."""
        retry, connections = self.job.options.retry, self.job.options.concurrency
        if self._source is None:
            self._source = open_storage(self.job.source, retry, connections=connections)
            self._target = open_storage(self.job.target, retry, connections=connections)
        if self._scorer is None:
            # Decoding and writing share the cores with ONNX Runtime: its idle threads sleep.
            self._scorer = Scorer(self.job.model, threads=self.job.threads, spin=False,
                                  engine=self.job.engine)
        return True

    def process(self, entries: list[Entry]) -> Outcome:
        """Fetch, decode, score and write `entries`; bad inputs are failures, not errors."""
        self.ready()
        job = self.job
        load = partial(pipeline.load, self._source, self._target, job.inputs,
                       job.options.max_record_bytes)
        loaded = list(self._pool.map(load, entries))  # fetches overlap; order is kept
        good = [item for item in loaded if isinstance(item, Record)]
        written = 0
        for batch in batches(good, job.batch_size):
            scored = pipeline.score(self._scorer, batch)
            written += sum(1 for _ in self._pool.map(self._put, results(scored)))
        return Outcome(written, tuple(item for item in loaded if isinstance(item, Failure)))

    def _put(self, result: tuple[str, bytes]) -> None:
        self._target.put(*result)

    def close(self) -> None:
        """Let go of the I/O threads and the storages' connections; safe to call again."""
        self._pool.shutdown(wait=True)
        for storage in (self._source, self._target):
            if storage is not None:
                storage.close()


class ChunkExecutor(Protocol):
    """An executor that places whole chunks on its workers (see executors/ray.py)."""

    def run_chunks(self, job: Job, chunks: Iterable[list[Entry]]) -> Iterator[Outcome]:
        """Each chunk's Outcome as it finishes, in any order, with a bounded number in flight."""
        ...

    def chunk_size(self, job: Job) -> int:
        """How many inputs go to one worker call."""
        ...

    def stopped(self) -> bool:
        ...


def run_chunked(executor: ChunkExecutor, job: Job, source: Storage, target: Storage,
                report: RunReport) -> None:
    """The run's driver side: stream what is pending, count what comes back."""
    entries = pipeline.pending(source.list(), target.list(), report)
    chunks = pipeline.chunks(entries, executor.chunk_size(job))
    with contextlib.closing(executor.run_chunks(job, chunks)) as outcomes:
        for outcome in outcomes:
            for failure in outcome.failures:
                report.failed_one(failure.key, failure.code, failure.message)
            report.scored_some(outcome.written)
    if not executor.stopped():
        report.check_threshold()
