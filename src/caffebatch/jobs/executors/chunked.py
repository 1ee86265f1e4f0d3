"""The one place a chunk of entries becomes results: fetch, decode, score and write.

Both executors hand a `ChunkWorker` chunks of keys: the local one streams many small chunks
through one worker on a few threads, the Ray one gives each actor its own worker. Only keys
go in and small `Outcome`s come back (how many were written, which inputs failed and why),
so an executor on other machines never streams records through its driver. No Ray here.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from caffebatch.errors import LocationNotFoundError
from caffebatch.jobs import pipeline
from caffebatch.jobs.batches import Batch, Scored, batches, results
from caffebatch.jobs.executors import Job
from caffebatch.jobs.pipeline import Failure, Group, Grouper, Loaded, Outcome
from caffebatch.jobs.records import Record
from caffebatch.jobs.spec import Location
from caffebatch.jobs.storage import Entry, Storage, open_storage
from caffebatch.runtime.scorer import Scorer

A = TypeVar("A")
B = TypeVar("B")

# Forward passes at once in one worker, each on its share of the threads, rather than one
# pass on all of them: a pass's threads wait for each other at every operator, and for any
# other thread of the run that takes one of their cores (decoding, writing), while two
# passes keep the cores busy when either waits (BENCHMARKS.md, "Two forward passes at
# once"). Not more: each pass holds its own activations, which the byte budget does not count.
DEFAULT_PASSES = 2


def scoring_split(threads: int | None, passes: int | None) -> tuple[int, int]:
    """(forward passes at once, threads per pass) for `threads` in all (None: every core)
    and `passes` asked for (None: DEFAULT_PASSES); never more passes than threads."""
    total = threads or os.cpu_count() or 1
    count = max(1, min(passes or DEFAULT_PASSES, total))
    return count, max(1, total // count)


class ChunkWorker:
    """Does whole chunks of a Job, from any number of threads. Built once per worker process.

    Calls to a remote storage go through two I/O pools, reads and writes, each `concurrency`
    wide (so one chunk's writes do not wait behind the next chunk's reads), one task per
    object (many requests in flight); a local file takes microseconds, so the chunk's own
    thread reads and writes them, with no hand-off. After `close` no storage call starts.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self._scorer = job.scorer
        self._source: Storage | None = None
        self._target: Storage | None = None
        self._reads = ThreadPoolExecutor(job.options.concurrency, thread_name_prefix="chunk-io")
        self._writes = ThreadPoolExecutor(job.options.concurrency, thread_name_prefix="chunk-io")
        self._opening = threading.Lock()
        # A Scorer the caller gave keeps its threads, and is called once at a time unless
        # `job.passes` says otherwise.
        self.passes, self._threads = (
            scoring_split(job.threads, job.passes) if job.scorer is None else (job.passes or 1, 0))
        # One token per pass. A SimpleQueue's get and put run no Python code, where a
        # threading.Semaphore's go through a Condition: py-spy put its notify at 6% of the
        # GIL-held time of a LeNet run.
        self._passes_free: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(self.passes):
            self._passes_free.put(None)
        self._local_calls = threading.Condition()  # counts the local storage calls under way
        self._active, self._closed = 0, False

    def ready(self) -> bool:
        """Open the storages and load the model; raises what stands in the way (a local
        location this machine cannot see is a LocationNotFoundError, before any record)."""
        for location in (self.job.source, self.job.target):
            _visible(location)
        self._parts()
        return True

    def process(self, entries: list[Entry]) -> Outcome:
        """Fetch, decode, score and write `entries`; bad inputs are failures, not errors.

        The records of a group (a JSON Lines object) are batched with the others; its one
        result object is written once its last record is scored (pipeline.Grouper).
        """
        source, target, _ = self._parts()
        job = self.job
        load = partial(pipeline.load, source, target, job.inputs, job.options.max_record_bytes)
        loaded = self._spread(self._reads, load, entries, source.remote)
        groups = [item for item in loaded if isinstance(item, Group)]
        grouper = Grouper(groups)
        write = partial(pipeline.write, target)
        written = 0
        for batch in batches(_records(loaded), job.batch_size):
            ready = list(grouper.add(results(self._score(batch))))
            written += sum(self._spread(self._writes, write, ready, target.remote))
        return Outcome(
            written, tuple(failure for item in loaded for failure in _failures(item)),
            done=sum(len(group.kept) for group in groups),
            expanded=sum(len(group.order) - 1 for group in groups),
        )

    def close(self) -> None:
        """Let go of the I/O threads and the storages' connections; safe to call again.

        Storage calls queued but not started are dropped (a cancelled run's), those under
        way finish first.
        """
        with self._local_calls:
            self._closed = True
            self._local_calls.wait_for(lambda: self._active == 0)
        for pool in (self._reads, self._writes):
            pool.shutdown(wait=True, cancel_futures=True)
        for storage in (self._source, self._target):
            if storage is not None:
                storage.close()

    def _parts(self) -> tuple[Storage, Storage, Scorer]:
        retry, connections = self.job.options.retry, self.job.options.concurrency
        with self._opening:
            if self._source is None or self._target is None:
                self._source = open_storage(self.job.source, retry, connections=connections)
                self._target = open_storage(self.job.target, retry, connections=connections)
            if self._scorer is None:
                # Decoding and writing share the cores with ONNX Runtime: its idle threads sleep.
                self._scorer = Scorer(self.job.model, threads=self._threads, spin=False,
                                      engine=self.job.engine, precision=self.job.precision,
                                      streams=self.passes)
            return self._source, self._target, self._scorer

    def _spread(self, pool: ThreadPoolExecutor, fn: Callable[[A], B], items: Sequence[A],
                remote: bool) -> list[B]:
        if remote:
            return list(pool.map(fn, items))  # order is kept
        # A local file takes microseconds: this chunk's own thread does them, no hand-off.
        with self._local_calls:
            if self._closed:
                raise RuntimeError("the chunk worker is closed")
            self._active += 1
        try:
            return [fn(item) for item in items if not self._closed]
        finally:
            with self._local_calls:
                self._active -= 1
                self._local_calls.notify_all()

    def _score(self, batch: Batch) -> Scored:
        _, _, scorer = self._parts()
        self._passes_free.get()
        try:
            return pipeline.score(scorer, batch)
        finally:
            self._passes_free.put(None)


def _records(loaded: list[Loaded]) -> Iterator[Record]:
    for item in loaded:
        if isinstance(item, Record):
            yield item
        elif isinstance(item, Group):
            yield from item.records


def _failures(item: Loaded) -> tuple[Failure, ...]:
    if isinstance(item, Failure):
        return (item,)
    return item.failures if isinstance(item, Group) else ()


def _visible(location: Location) -> None:
    if not location.is_s3 and not os.path.isdir(location.url):
        raise LocationNotFoundError(
            f"the folder {location.url!r} does not exist on {socket.gethostname()}: every "
            "machine of the run must see its local locations (a shared file system), or use "
            "s3:// locations")
