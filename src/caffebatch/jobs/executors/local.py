"""The local executor: a few threads stream chunks through one ChunkWorker in this process.

Each thread takes a batch's worth of entries at a time and fetches, decodes, scores and
writes it, so the steps of different chunks overlap: ONNX Runtime and file and socket I/O
release the GIL, so one chunk is decoded while another is scored. A feeder thread reads
the listing ahead by at most ``2 * CHUNKS_IN_FLIGHT`` chunks, so memory stays flat however
many inputs there are.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from caffebatch.jobs.batches import chunked
from caffebatch.jobs.executors import Job
from caffebatch.jobs.executors.chunked import ChunkWorker
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.storage import Entry

A = TypeVar("A")
B = TypeVar("B")

# Chunks at work at once: one being scored while the others are read, decoded or written.
CHUNKS_IN_FLIGHT = 3
POLL_S = 0.1  # how often a waiting thread looks at the stop flags


class LocalExecutor:
    """Runs chunks with threads in this process. `cancel`, when set, stops the run."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self._cancel = cancel

    def run(self, job: Job, entries: Iterable[Entry]) -> Generator[Outcome, None, None]:
        worker = ChunkWorker(job)
        closed = threading.Event()

        def stopped() -> bool:
            return closed.is_set() or (self._cancel is not None and self._cancel.is_set())

        try:
            worker.ready()
            yield from threaded(worker.process, chunked(entries, job.batch_size),
                                workers=CHUNKS_IN_FLIGHT, stopped=stopped)
        finally:
            closed.set()
            worker.close()


@dataclass(frozen=True)
class _End:
    submitted: int


@dataclass(frozen=True)
class _Raised:
    error: BaseException


def threaded(fn: Callable[[A], B], items: Iterable[A], *, workers: int,
             stopped: Callable[[], bool]) -> Iterator[B]:
    """`fn` over `items` on `workers` threads, unordered, with bounded read-ahead.

    A feeder thread pulls `items` (so a slow listing overlaps the work) and stops when
    `stopped()` or when the caller closes the iterator; what `fn` or `items` raise is raised
    to the caller.
    """
    slots = threading.Semaphore(2 * workers)
    done: queue.Queue[Future[B] | _End | _Raised] = queue.Queue()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="chunk")
    closed = threading.Event()

    def over() -> bool:
        return closed.is_set() or stopped()

    def feed() -> None:
        submitted = 0
        try:
            for item in items:
                while not slots.acquire(timeout=POLL_S):
                    if over():
                        return
                if over():
                    return
                pool.submit(fn, item).add_done_callback(done.put)
                submitted += 1
        except Exception as error:  # noqa: BLE001 (the listing failed: raised to the caller)
            done.put(_Raised(error))
        finally:
            done.put(_End(submitted))

    threading.Thread(target=feed, name="chunk-feed", daemon=True).start()
    received, expected = 0, None
    try:
        while expected is None or received < expected:
            try:
                got = done.get(timeout=POLL_S)
            except queue.Empty:
                if stopped():
                    return
                continue
            if isinstance(got, _End):
                expected = got.submitted
            elif isinstance(got, _Raised):
                raise got.error
            else:
                received += 1
                slots.release()
                yield got.result()  # raises what `fn` raised
    finally:
        closed.set()
        pool.shutdown(wait=False, cancel_futures=True)
