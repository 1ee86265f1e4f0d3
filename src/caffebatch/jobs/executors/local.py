"""The local executor: chunks of entries done by threads in this process, or worker processes.

By default a few threads stream chunks through one ChunkWorker, so the steps of different
chunks overlap (ONNX Runtime and file and socket I/O release the GIL). With `processes`
(RunOptions.processes, opt-in) the chunks go to that many worker processes instead
(processes.py), each with its own GIL; not faster on the shared 2-core machine so far
(BENCHMARKS.md), hence not the default. A run given a Scorer to use stays in this process.

Either way a feeder thread reads the listing ahead by at most ``2 * workers`` chunks, each
charged to the run's byte budget until its Outcome is back (budget.py), so memory stays
flat however many inputs there are and however big they are.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from caffebatch.jobs.budget import ByteBudget, chunks_within, record_bytes
from caffebatch.jobs.executors import Job
from caffebatch.jobs.executors.chunked import ChunkWorker
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.storage import Entry

A = TypeVar("A")
B = TypeVar("B")

# Chunks at work at once in this process: one per forward pass (ChunkWorker.passes), and at
# least two, so that one is read, decoded or written while the other is scored. A chunk more
# than the passes only took turns at the GIL: LeNet on tmpfs, 20,000 records, ran 1.1-1.5x
# faster with two chunk threads than with three, GoogLeNet on JPEGs 1.01-1.06x (BENCHMARKS.md).
MIN_CHUNKS = 2
POLL_S = 0.1  # how often a waiting thread looks at the stop flags


class LocalExecutor:
    """Runs chunks on this machine. `cancel`, when set, stops the run.

    `processes`: how many worker processes to do the chunks in; 0 (the default) keeps
    them in this process.
    """

    def __init__(self, cancel: threading.Event | None = None, processes: int = 0) -> None:
        self._cancel = cancel
        self._processes = processes

    def run(self, job: Job, entries: Iterable[Entry]) -> Generator[Outcome, None, None]:
        budget = ByteBudget(job.options.max_inflight_bytes)
        decoded = record_bytes(job.inputs.shapes)
        count = self._processes if job.scorer is None else 0
        submit: Callable[[list[Entry]], Future[Outcome]]
        close: Callable[[], None]
        if count:
            from caffebatch.jobs.executors.processes import WorkerProcesses

            pool = WorkerProcesses(job, count)
            workers, submit, close = count, pool.submit, pool.close
        else:
            worker = ChunkWorker(job)
            workers = max(MIN_CHUNKS, worker.passes)
            threads = ThreadPoolExecutor(workers, thread_name_prefix="chunk")
            submit = _submitter(threads, worker.process)

            def close_threads() -> None:
                threads.shutdown(wait=False, cancel_futures=True)
                worker.close()
            close = close_threads
        # each chunk weighs at most its share of the budget, so `workers` of them fit at once
        chunks = chunks_within(entries, job.batch_size,
                               max(1, budget.limit // workers), decoded)
        closed = threading.Event()

        def stopped() -> bool:
            return closed.is_set() or (self._cancel is not None and self._cancel.is_set())

        try:
            if not count:
                worker.ready()
            yield from threaded(submit, chunks, workers=workers, budget=budget,
                                stopped=stopped)
        finally:
            closed.set()
            close()


def _submitter(pool: ThreadPoolExecutor,
               fn: Callable[[list[Entry]], Outcome]) -> Callable[[list[Entry]], Future[Outcome]]:
    def submit(entries: list[Entry]) -> Future[Outcome]:
        return pool.submit(fn, entries)
    return submit


def _take_slot(slots: queue.SimpleQueue[None], timeout: float) -> bool:
    try:
        slots.get(timeout=timeout)
    except queue.Empty:
        return False
    return True


def _take_bytes(budget: ByteBudget, weight: int, timeout: float) -> bool:
    return budget.acquire(weight, timeout)


def _finished(done: queue.SimpleQueue[Any], weight: int, future: Future[Any]) -> None:
    done.put((future, weight))


@dataclass(frozen=True)
class _End:
    submitted: int


@dataclass(frozen=True)
class _Raised:
    error: BaseException


def threaded(submit: Callable[[A], Future[B]], items: Iterable[tuple[A, int]], *, workers: int,
             budget: ByteBudget, stopped: Callable[[], bool]) -> Iterator[B]:
    """Each of `items` (an item and its weight in bytes) through `submit`, results unordered,
    with at most ``2 * workers`` submitted and `budget` not exceeded.

    A feeder thread pulls `items` (so a slow listing overlaps the work) and stops when
    `stopped()` or when the caller closes the iterator; what the work or `items` raise is
    raised to the caller.
    """
    # SimpleQueues, as semaphore (a token per chunk submitted) and as channel: their get and
    # put run no Python code, where a Semaphore's and a Queue's take turns at a Condition.
    slots: queue.SimpleQueue[None] = queue.SimpleQueue()
    for _ in range(2 * workers):
        slots.put(None)
    done: queue.SimpleQueue[tuple[Future[B], int] | _End | _Raised] = queue.SimpleQueue()
    closed = threading.Event()

    def over() -> bool:
        return closed.is_set() or stopped()

    def wait(take: Callable[[float], bool]) -> bool:
        while not take(POLL_S):
            if over():
                return False
        return not over()

    def feed() -> None:
        submitted = 0
        try:
            for item, weight in items:
                if not wait(partial(_take_slot, slots)):
                    return
                if not wait(partial(_take_bytes, budget, weight)):
                    slots.put(None)
                    return
                submit(item).add_done_callback(partial(_finished, done, weight))
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
                future, weight = got
                received += 1
                budget.release(weight)
                slots.put(None)
                yield future.result()  # raises what the work raised
    finally:
        closed.set()
