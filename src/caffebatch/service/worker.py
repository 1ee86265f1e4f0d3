"""The worker pool inside `caffebatch serve`: claims queued deployments and runs them.

A dispatcher thread claims INITIALIZING deployments (atomically, through the transition
table) while fewer than `max_concurrent_runs` are in flight, and runs each in its own
thread with the batch pipeline. Progress and usage are saved as the run reports them.
On start, runs left RUNNING by a stopped or killed server are requeued; a rerun skips the
inputs already scored, so they resume where they were.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from caffebatch.errors import CaffebatchError
from caffebatch.service.context import ServiceContext
from caffebatch.service.execution import Execution, ModelCache
from caffebatch.store import states
from caffebatch.store.tables import Deployment

log = logging.getLogger("caffebatch.worker")


class WorkerPool:
    """Threads running deployments; `start` recovers and begins claiming, `stop` requeues."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.limit = max(1, ctx.settings.max_concurrent_runs)
        self._executor = ThreadPoolExecutor(self.limit, thread_name_prefix="caffebatch-run")
        self._stopping = threading.Event()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="caffebatch-dispatch", daemon=True
        )
        self._models = ModelCache(engine=ctx.settings.engine, precision=ctx.settings.precision)

    def start(self) -> None:
        requeued = self.recover()
        if requeued:
            log.info("requeued %d interrupted run(s)", requeued)
        if self.ctx.settings.executor == "ray":
            self._join_ray()
        self._dispatcher.start()

    def _join_ray(self) -> None:
        # Join (or start) Ray here, in the thread that starts the server: a Ray started
        # from a run's thread leaves two of its agent processes behind at shutdown.
        from caffebatch.jobs import connect_ray

        try:
            connect_ray(self.ctx.settings.ray)
        except CaffebatchError as error:  # each run will fail with this reason
            log.error("the ray executor is not available: %s", error)

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop claiming, ask running runs to stop (they are requeued), and wait for them."""
        self._stopping.set()
        self.ctx.wake.set()
        self.ctx.runs.cancel_all()
        self._dispatcher.join(wait_s)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def recover(self) -> int:
        """Put runs left RUNNING (by a server that stopped) back in the queue."""
        with self.ctx.db.session() as session:
            ids = session.scalars(select(Deployment.id).where(Deployment.status == states.RUNNING))
            return sum(
                states.transition(session, did, states.RUNNING, states.INITIALIZING)
                for did in list(ids)
            )

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                for deployment_id in self._claim(self.limit - self.ctx.runs.running()):
                    cancel = self.ctx.runs.start(deployment_id)
                    self._executor.submit(self._run, deployment_id, cancel)
            except Exception:
                log.exception("claiming queued deployments failed; retrying")
            self.ctx.wake.wait(self.ctx.settings.poll_interval_s)
            self.ctx.wake.clear()

    def _claim(self, room: int) -> list[str]:
        if room <= 0:
            return []
        claimed: list[str] = []
        with self.ctx.db.session() as session:
            candidates = session.execute(
                select(Deployment.id, Deployment.attempts)
                .where(Deployment.status == states.INITIALIZING)
                # a total order: servers racing for the queue lock its rows in the same
                # order, so PostgreSQL never sees them deadlock
                .order_by(Deployment.created_at, Deployment.id)
                .limit(room)
            ).all()
            for deployment_id, attempts in candidates:
                if states.transition(
                    session,
                    deployment_id,
                    states.INITIALIZING,
                    states.RUNNING,
                    attempts=attempts + 1,
                ):
                    claimed.append(deployment_id)
        return claimed

    def _run(self, deployment_id: str, cancel: threading.Event) -> None:
        try:
            Execution(self.ctx, deployment_id, cancel, self._stopping, self._models).run()
        except Exception as error:
            log.exception("deployment %s: the run crashed", deployment_id)
            self._fail(deployment_id, error)
        finally:
            self.ctx.runs.finish(deployment_id)
            self.ctx.wake.set()

    def _fail(self, deployment_id: str, error: Exception) -> None:
        """A run that crashed ends as FAILURE, rather than staying RUNNING until a restart."""
        failure = {
            "code": "internal_error",
            "message": f"the run stopped on an unexpected {type(error).__name__}; "
            "the server's log has the details",
        }
        try:
            with self.ctx.db.session() as session:
                states.transition(
                    session, deployment_id, states.RUNNING, states.FAILURE,
                    progress={"status": states.FAILURE, "failure": failure},
                )
        except Exception:
            log.exception("deployment %s: could not record the crash", deployment_id)
