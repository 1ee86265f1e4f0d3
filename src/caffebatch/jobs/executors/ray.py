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
import threading
from collections.abc import Generator, Iterable
from dataclasses import replace
from typing import Any

from caffebatch.errors import CaffebatchError, ExtraMissingError, RunError
from caffebatch.jobs.batches import chunked
from caffebatch.jobs.executors import Job
from caffebatch.jobs.executors.chunked import ChunkWorker
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.storage import Entry
from caffebatch.settings import RaySettings  # one definition, shared with the service and CLI

INSTALL = "pip install 'caffebatch[ray]'"
EXECUTOR_FAILED = "executor_error"
POLL_S = 0.1  # how often the driver looks at the cancel flag while it waits
MIB = 1024 * 1024

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
        workers = self._start(ray, job)
        depth = self.settings.tasks_per_actor
        load = [0] * len(workers)
        in_flight: dict[Any, int] = {}  # object ref -> the worker doing it
        exhausted, most = False, depth * len(workers)
        finished = False
        try:
            while True:
                while not exhausted and len(in_flight) < most and not self._cancelled():
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    index = load.index(min(load))
                    in_flight[workers[index].process.remote(chunk)] = index
                    load[index] += 1
                if not in_flight or self._cancelled():
                    finished = not in_flight and not self._cancelled()
                    return
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_S)
                for ref in done:
                    load[in_flight.pop(ref)] -= 1
                    yield _get(ray, ref)
        finally:
            if finished:  # idle workers can let go of their threads; a kill runs no Python
                ray.wait([worker.close.remote() for worker in workers],
                         num_returns=len(workers), timeout=POLL_S * 10)
            for worker in workers:  # a result is written atomically, so killing loses none
                ray.kill(worker)

    def _cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def _start(self, ray: Any, job: Job) -> list[Any]:
        """The actor pool, each with the model loaded; a clear error rather than a hang."""
        count, cpus, gpus = pool_shape(self.settings, ray.cluster_resources(),
                                       ray.available_resources())
        threads = job.threads or max(1, int(cpus))
        shared = ray.put(replace(job, threads=threads))
        # No restarts: a worker that dies fails the run, and a rerun resumes where it stopped.
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


def _get(ray: Any, ref: Any) -> Any:
    """A finished call's value, with Ray's wrappers taken off our own errors."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, CaffebatchError):
            raise cause from error
        raise RunError(EXECUTOR_FAILED, f"a Ray task failed: {error}") from error
    except ray.exceptions.RayError as error:  # an actor or node died, past its restarts
        raise RunError(EXECUTOR_FAILED, f"Ray lost a worker: {error}") from error


def _resources(resources: dict[str, float]) -> str:
    return ", ".join(f"{resources.get(name, 0):g} {name}" for name in ("CPU", "GPU"))
