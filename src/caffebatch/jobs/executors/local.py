"""The local executor: chunks of entries done by worker processes, or by threads in this one.

A run big enough to pay for starting them (its listing holds more than
`PROCESSES_FROM_BYTES` of decoded input) goes to one worker process per core (processes.py):
decoding and encoding hold the GIL, so only processes put every core to the Python side's
work. A smaller run, or one given a Scorer to use, stays in this process: a few threads
stream chunks through one ChunkWorker, so the steps of different chunks overlap (ONNX
Runtime and file and socket I/O release the GIL).

Either way a feeder thread reads the listing ahead by at most ``2 * workers`` chunks, each
charged to the run's byte budget until its Outcome is back (budget.py), so memory stays
flat however many inputs there are and however big they are.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from caffebatch.jobs.budget import ByteBudget, chunks_within, record_bytes
from caffebatch.jobs.executors import Job
from caffebatch.jobs.executors.chunked import ChunkWorker
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.storage import Entry

A = TypeVar("A")
B = TypeVar("B")

# Chunks at work at once in this process: one being scored while the others are read,
# decoded or written.
CHUNKS_IN_FLIGHT = 3
POLL_S = 0.1  # how often a waiting thread looks at the stop flags
# Worker processes take about a second to start (the model loads in each): a run with
# less decoded input than this (10,000 LeNet records, 50 GoogLeNet ones) is done sooner
# in this process. Read ahead from the listing to decide, never more than the cap.
PROCESSES_FROM_BYTES = 32 * 1024 * 1024
DECIDE_WITHIN_ENTRIES = 20_000


class LocalExecutor:
    """Runs chunks on this machine. `cancel`, when set, stops the run.

    `processes`: how many worker processes; None decides per run (one per core for a big
    run with its own Scorer, none otherwise), 0 keeps every run in this process.
    """

    def __init__(self, cancel: threading.Event | None = None,
                 processes: int | None = None) -> None:
        self._cancel = cancel
        self._processes = processes

    def run(self, job: Job, entries: Iterable[Entry]) -> Generator[Outcome, None, None]:
        budget = ByteBudget(job.options.max_inflight_bytes)
        decoded = record_bytes(job.inputs)
        head, rest = _look_ahead(iter(entries), decoded)
        count = self._count(job, head, decoded)
        workers = count or CHUNKS_IN_FLIGHT
        # each chunk weighs at most its share of the budget, so `workers` of them fit at once
        chunks = chunks_within(itertools.chain(head, rest), job.batch_size,
                               max(1, budget.limit // workers), decoded)
        closed = threading.Event()

        def stopped() -> bool:
            return closed.is_set() or (self._cancel is not None and self._cancel.is_set())

        if count:
            from caffebatch.jobs.executors.processes import WorkerProcesses

            pool = WorkerProcesses(job, count)
            submit, close = pool.submit, pool.close
        else:
            worker = ChunkWorker(job)
            threads = ThreadPoolExecutor(workers, thread_name_prefix="chunk")
            submit = _submitter(threads, worker.process)

            def close() -> None:
                threads.shutdown(wait=False, cancel_futures=True)
                worker.close()

        try:
            if not count:
                worker.ready()
            yield from threaded(submit, chunks, workers=workers, budget=budget,
                                stopped=stopped)
        finally:
            closed.set()
            close()

    def _count(self, job: Job, head: list[Entry], decoded: int) -> int:
        if self._processes is not None:
            return self._processes
        if job.scorer is not None or (os.cpu_count() or 1) < 2:
            return 0
        return (os.cpu_count() or 1) if len(head) * decoded >= PROCESSES_FROM_BYTES else 0


def _look_ahead(entries: Iterator[Entry], decoded: int) -> tuple[list[Entry], Iterator[Entry]]:
    """The first entries of the listing, up to the bytes that decide; and the rest."""
    wanted = min(DECIDE_WITHIN_ENTRIES, -(-PROCESSES_FROM_BYTES // max(1, decoded)))
    return list(itertools.islice(entries, wanted)), entries


def _submitter(pool: ThreadPoolExecutor,
               fn: Callable[[list[Entry]], Outcome]) -> Callable[[list[Entry]], Future[Outcome]]:
    def submit(entries: list[Entry]) -> Future[Outcome]:
        return pool.submit(fn, entries)
    return submit


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
    slots = threading.Semaphore(2 * workers)
    done: queue.Queue[tuple[Future[B], int] | _End | _Raised] = queue.Queue()
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
                if not wait(lambda timeout: slots.acquire(timeout=timeout)):
                    return
                if not wait(lambda timeout, weight=weight: budget.acquire(weight, timeout)):
                    slots.release()
                    return
                future = submit(item)
                future.add_done_callback(lambda f, weight=weight: done.put((f, weight)))
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
                slots.release()
                yield future.result()  # raises what the work raised
    finally:
        closed.set()
