"""Worker processes for the local executor: each one a ChunkWorker with its own GIL.

Decoding JSON and encoding results hold the GIL, so in one process they take turns with
each other and with the thread hand-offs around them, however many threads there are. A
few worker processes (one per core), each fetching, decoding, scoring and writing whole
chunks one after the other on one thread with a Scorer of its share of the cores, do the
same work with no hand-off inside a chunk and every core busy. Only keys go in and
Outcomes come back, as with Ray.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace

from caffebatch.jobs.executors import Job
from caffebatch.jobs.executors.chunked import ChunkWorker
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.storage import Entry

_worker: ChunkWorker | None = None  # this worker process's own, built by _start


class WorkerProcesses:
    """`count` processes that each do whole chunks of `job`; `submit` one chunk at a time."""

    def __init__(self, job: Job, count: int) -> None:
        # forkserver: the processes fork from a clean server, not from this process, whose
        # ONNX Runtime and I/O threads a fork would copy mid-flight.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        threads = job.threads or max(1, (os.cpu_count() or 1) // count)
        self._pool = ProcessPoolExecutor(count, mp_context=context, initializer=_start,
                                         initargs=(replace(job, threads=threads, passes=1),))

    def submit(self, entries: list[Entry]) -> Future[Outcome]:
        return self._pool.submit(_process, entries)

    def close(self) -> None:
        """Drop the chunks not started; wait for those under way (their writes finish)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _start(job: Job) -> None:
    global _worker
    # Ctrl-C reaches the whole process group: the parent cancels the run, the workers finish
    # their chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = ChunkWorker(job)


def _process(entries: list[Entry]) -> Outcome:
    assert _worker is not None, "the worker process was not started by WorkerProcesses"
    return _worker.process(entries)
