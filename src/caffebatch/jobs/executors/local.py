"""The local executor: each stage is a thread pool fed by its own feeder thread.

Stages overlap (listing, fetching, scoring and writing run at once) and each holds at most
``2 * workers`` items, so memory stays flat however many inputs there are. ONNX Runtime,
file and socket I/O release the GIL, so decoding overlaps with scoring.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")

POLL_S = 0.1  # how often a waiting stage looks at the stop flag


@dataclass(frozen=True)
class _End:
    submitted: int


@dataclass(frozen=True)
class _Raised:
    error: BaseException


class LocalExecutor:
    """Runs stages with threads in this process. `cancel`, when set, stops every stage."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self._cancel = cancel
        self._stop = threading.Event()

    def stopped(self) -> bool:
        return self._stop.is_set() or (self._cancel is not None and self._cancel.is_set())

    def stop(self) -> None:
        self._stop.set()

    def map(self, fn: Callable[[A], B], items: Iterable[A], *, workers: int) -> Iterator[B]:
        slots = threading.Semaphore(2 * workers)
        done: queue.Queue = queue.Queue()
        pool = ThreadPoolExecutor(workers, thread_name_prefix=getattr(fn, "__name__", "stage"))
        closed = threading.Event()

        def feed() -> None:
            submitted = 0
            try:
                for item in items:
                    while not slots.acquire(timeout=POLL_S):
                        if closed.is_set() or self.stopped():
                            return
                    if closed.is_set() or self.stopped():
                        return
                    pool.submit(fn, item).add_done_callback(done.put)
                    submitted += 1
            except BaseException as error:  # an upstream stage failed: pass it downstream
                done.put(_Raised(error))
            finally:
                done.put(_End(submitted))

        feeder = threading.Thread(target=feed, name="feed-" + pool._thread_name_prefix, daemon=True)
        feeder.start()
        return self._results(done, slots, pool, closed)

    def _results(self, done: queue.Queue, slots: threading.Semaphore, pool: ThreadPoolExecutor,
                 closed: threading.Event) -> Iterator:
        received, expected = 0, None
        try:
            while expected is None or received < expected:
                try:
                    got = done.get(timeout=POLL_S)
                except queue.Empty:
                    if self.stopped():
                        return
                    continue
                if isinstance(got, _End):
                    expected = got.submitted
                elif isinstance(got, _Raised):
                    raise got.error
                else:
                    received += 1
                    slots.release()
                    yield _value(got)
        finally:
            closed.set()
            pool.shutdown(wait=False, cancel_futures=True)


def _value(future: Future):
    return future.result()  # raises what the stage function raised
