"""The Ray executor: the same batch run, with the work spread over a Ray cluster.

The driver streams the listing (the same merge of two sorted listings as locally, so resume
is the same) and hands out chunks of keys to a pool of actors, each of which loads the model
once and fetches, decodes, scores and writes its chunks (chunked.py). Only keys and small
outcomes cross the driver; at most `tasks_per_actor` chunks per actor are in flight, so the
driver's memory stays flat over millions of inputs. docs/ray.md says why this is Ray core
actors rather than a Ray Data pipeline.

Ray is an optional extra: it is imported when a run starts, never when this module is.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import replace
from typing import Any

from caffebatch.errors import CaffebatchError, ExtraMissingError, RunError
from caffebatch.jobs.batches import chunked
from caffebatch.jobs.executors import Job
from caffebatch.jobs.executors.chunked import ChunkWorker
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.storage import Entry
from caffebatch.settings import RaySettings  # one definition, shared with the service and CLI

log = logging.getLogger("caffebatch.jobs")

INSTALL = "pip install 'caffebatch[ray]'"
EXECUTOR_FAILED = "executor_error"
POLL_S = 0.1  # how often the driver looks at the cancel flag while it waits
MIB = 1024 * 1024
KILL_WAIT_S = 10.0  # how long closing waits for killed actors to be gone

_connecting = threading.Lock()


def require_ray() -> Any:
    """The `ray` module, or an ExtraMissingError that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ExtraMissingError(
            f"the ray executor needs Ray, which is not installed ({error}); "
            f"install it with: {INSTALL}"
        ) from error
    return ray


def connect(settings: RaySettings) -> Any:
    """Join the cluster, or start a local Ray sized by `settings`; once per process.

    A Ray already initialised in this process (by a test, or an earlier run) is reused as is.
    Raises RunError when Ray cannot be joined or started, so that the run fails with a reason.
    """
    ray = require_ray()
    # The service starts runs in threads: two starting at once must not both start a Ray
    # (Ray's own init is not thread-safe, and the loser takes the process down with it).
    with _connecting:
        if not ray.is_initialized():
            _init(ray, settings)
    return ray


def _init(ray: Any, settings: RaySettings) -> None:
    try:
        if settings.address:
            ray.init(address=settings.address, log_to_driver=False)
        else:
            ray.init(address="local", num_cpus=settings.num_cpus,
                     object_store_memory=settings.object_store_mib * MIB,
                     include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"join the Ray cluster at {settings.address!r}" if settings.address else (
            "start a local Ray")
        raise RunError(EXECUTOR_FAILED, f"could not {where}: {error}") from error


class RayExecutor:
    """Runs a batch run's chunks on Ray actors. `cancel`, when set, stops the run."""

    def __init__(self, settings: RaySettings | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.settings = settings or RaySettings()
        self._cancel = cancel
        require_ray()  # fail now, with the install hint, not halfway into a run

    def run(self, job: Job, entries: Iterable[Entry]) -> Generator[Outcome, None, None]:
        chunks = chunked(entries, job.batch_size * self.settings.batches_per_task)
        first = next(chunks, None)
        if first is None:  # nothing pending (a rerun of a finished run): no actors to start
            return
        chunks = itertools.chain([first], chunks)
        ray = connect(self.settings)
        pool = _Pool(ray, self._start(ray, job), self.settings.tasks_per_actor)
        again: deque[list[Entry]] = deque()  # the chunks of lost workers, done first
        exhausted = finished = False
        try:
            while True:
                while (again or not exhausted) and pool.has_room() and not self._cancelled():
                    chunk = again.popleft() if again else next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    pool.submit(chunk)
                if pool.idle() or self._cancelled():
                    finished = pool.idle() and not self._cancelled()
                    return
                for chunk, outcome in pool.finished():
                    if outcome is not None:
                        yield outcome
                    else:
                        again.append(chunk)
        finally:
            pool.close(finished)

    def _cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def _start(self, ray: Any, job: Job) -> list[Any]:
        """The actor pool, each with the model loaded; a clear error rather than a hang."""
        count, cpus, gpus = pool_shape(self.settings, ray.cluster_resources(),
                                       ray.available_resources())
        threads = job.threads or max(1, int(cpus))
        shared = ray.put(replace(job, threads=threads, passes=1))
        # No restarts: the chunks of a worker that dies go to the others (_Pool), and a
        # restarted actor would wait for room that a lost node no longer has.
        actor = ray.remote(ChunkWorker).options(num_cpus=cpus, num_gpus=gpus, max_concurrency=2)
        workers = [actor.remote(shared) for _ in range(count)]
        try:
            ready = [worker.ready.remote() for worker in workers]
            timeout = self.settings.start_timeout_s
            done, waiting = ray.wait(ready, num_returns=len(ready), timeout=timeout)
            if waiting:
                raise RunError(
                    EXECUTOR_FAILED,
                    f"{len(waiting)} of {count} Ray actors ({cpus:g} CPU, {gpus:g} GPU each) "
                    f"did not start within {self.settings.start_timeout_s:g} s; the cluster has "
                    f"{_resources(ray.cluster_resources())}",
                )
            for ref in done:
                _get(ray, ref)
        except BaseException:
            for worker in workers:
                ray.kill(worker)
            raise
        return workers


class _Pool:
    """The actors and the chunks in flight on them, at most `depth` per actor.

    A chunk whose actor is lost (its node died, its process was killed) comes back from
    `finished` without an outcome, to be handed to another actor: the results it wrote
    before are written again with the same bytes, under the same names, and counted once,
    from the one outcome that comes back. The run fails only when no actor is left.
    """

    def __init__(self, ray: Any, workers: list[Any], depth: int) -> None:
        self.ray, self.workers, self.depth = ray, workers, depth
        self.load = [0] * len(workers)
        self.alive = set(range(len(workers)))
        self.in_flight: dict[Any, tuple[int, list[Entry]]] = {}  # ref -> (worker, chunk)

    def has_room(self) -> bool:
        return len(self.in_flight) < self.depth * len(self.alive)

    def idle(self) -> bool:
        return not self.in_flight

    def submit(self, chunk: list[Entry]) -> None:
        index = min(self.alive, key=lambda worker: (self.load[worker], worker))
        self.in_flight[self.workers[index].process.remote(chunk)] = index, chunk
        self.load[index] += 1

    def finished(self) -> Iterator[tuple[list[Entry], Outcome | None]]:
        """The chunks done within POLL_S, each with its outcome, or None when it was lost."""
        done, _ = self.ray.wait(list(self.in_flight), num_returns=1, timeout=POLL_S)
        for ref in done:
            index, chunk = self.in_flight.pop(ref)
            self.load[index] -= 1
            try:
                outcome = _get(self.ray, ref)
            except _WorkerLost as lost:
                self._lose(index, lost)
                yield chunk, None
            else:
                yield chunk, outcome

    def close(self, finished: bool) -> None:
        """Let every actor go; returns once the killed ones stopped writing, so that the
        run's recount after a failure or a cancel sees all they wrote."""
        ray = self.ray
        if finished:  # idle workers can let go of their threads; a kill runs no Python
            ray.wait([self.workers[index].close.remote() for index in self.alive],
                     num_returns=len(self.alive), timeout=POLL_S * 10)
        for worker in self.workers:  # a result is written atomically, so killing loses none
            ray.kill(worker)
        if self.in_flight:  # a killed actor's calls end (with an error) once it is gone
            ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=KILL_WAIT_S)

    def _lose(self, index: int, lost: _WorkerLost) -> None:
        if index not in self.alive:
            return
        self.alive.discard(index)
        self.ray.kill(self.workers[index])  # an actor only unreachable must not write on
        if not self.alive:
            raise RunError(EXECUTOR_FAILED,
                           f"every Ray actor of the run was lost; the last: {lost.message}") from lost
        log.warning("a Ray actor of the run was lost (%s); its chunks go to the %d actor(s) "
                    "left", _first_line(lost.message), len(self.alive))


def pool_shape(settings: RaySettings, total: dict[str, float],
               free: dict[str, float]) -> tuple[int, float, float]:
    """(actors, CPUs per actor, GPUs per actor) for a cluster with `total` resources.

    By default the pool takes what is `free` now (at least one actor), so that two runs at
    once share the cluster; an actor that must wait for room waits for the start timeout.
    """
    cluster_cpus, cluster_gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    gpus = settings.gpus_per_actor
    if gpus is None:
        gpus = min(1.0, cluster_gpus)
    cpus = settings.cpus_per_actor
    if settings.actors is not None:
        count = settings.actors
    elif gpus:
        count = max(1, int(free.get("GPU", 0.0) // gpus))
    else:
        count = max(1, int(free.get("CPU", 0.0) // cpus))
    if count * cpus > cluster_cpus or count * gpus > cluster_gpus:
        raise RunError(
            EXECUTOR_FAILED,
            f"{count} Ray actor(s) of {cpus:g} CPU and {gpus:g} GPU do not fit in a cluster "
            f"of {cluster_cpus:g} CPU and {cluster_gpus:g} GPU; lower --ray-actors or "
            "--ray-cpus-per-actor",
        )
    return count, cpus, gpus


class _WorkerLost(RunError):
    """A call's actor is gone (its process or node died): the call may be done again."""


def _get(ray: Any, ref: Any) -> Any:
    """A finished call's value, with Ray's wrappers taken off our own errors."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # the call raised: doing it again would too
        cause = getattr(error, "cause", None)
        if isinstance(cause, CaffebatchError):
            raise cause from error
        raise RunError(EXECUTOR_FAILED, f"a Ray task failed: {error}") from error
    except ray.exceptions.RayError as error:  # the actor, its node or the call's result is gone
        raise _WorkerLost(EXECUTOR_FAILED, f"Ray lost a worker: {error}") from error


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0]


def _resources(resources: dict[str, float]) -> str:
    return ", ".join(f"{resources.get(name, 0):g} {name}" for name in ("CPU", "GPU"))
