"""Executors run a batch run's chunks: locally with threads, or on a Ray cluster.

Every executor has one job, `run(job, entries)`: turn the pending entries into results in
the target and yield an `Outcome` per chunk as it finishes (in any order), with a bounded
number in flight. A `ChunkWorker` (chunked.py) does each chunk, wherever it runs, so the
results and the error report are the same bytes whichever executor ran them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.spec import Location, RunOptions
from caffebatch.jobs.storage import Entry

if TYPE_CHECKING:
    from caffebatch.runtime.scorer import Scorer


@dataclass(frozen=True)
class Job:
    """All a worker needs to do its chunks, as plain picklable values.

    `scorer` is shipped as is when the caller gave one; otherwise each worker builds its
    own from `model` with `threads` threads in all (None: every core), split among `passes`
    forward passes at once (None: chunked.DEFAULT_PASSES), and the execution providers of
    its machine (CUDA where the worker has a GPU).
    """

    source: Location
    target: Location
    model: bytes
    inputs: InputSpec
    options: RunOptions
    batch_size: int
    scorer: Scorer | None = None
    threads: int | None = None
    engine: str | None = None  # the Scorer's backend (None: ONNX Runtime)
    precision: str = "f32"  # the Scorer's precision (bf16 only when asked for)
    passes: int | None = None


class Executor(Protocol):
    """Where a run's chunks are done. Built with the run's cancel flag (see choice.py)."""

    def run(self, job: Job, entries: Iterable[Entry]) -> Generator[Outcome, None, None]:
        """Each chunk's Outcome as it finishes; stops early once cancelled, or when closed."""
        ...


__all__ = ["Executor", "Job", "Outcome"]
