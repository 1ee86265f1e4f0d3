"""The worker pool inside `caffebatch serve`: claims queued deployments and runs them.

A dispatcher thread claims INITIALIZING deployments (atomically, through the transition
table) with a lease in this server's name (`caffebatch.store.leases`) while fewer than
`max_concurrent_runs` are in flight, and runs each in its own thread with the batch
pipeline. Progress and usage are saved as the run reports them. A heartbeat thread renews
the leases of this server's runs every third of `lease_s`, stops the runs whose row was
deleted (a DELETE sent to any server) or taken over, and requeues the runs whose lease has
lapsed (their server died); a rerun skips the inputs already scored, so it resumes where the
results stop. Several servers can share one store; on SQLite the same code serves one.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from caffebatch.errors import CaffebatchError
from caffebatch.service.context import ServiceContext
from caffebatch.service.execution import Execution, ModelCache
from caffebatch.service.metrics import StoreFigures
from caffebatch.store import leases, states
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
        self._heart = threading.Thread(
            target=self._heartbeat, name="caffebatch-heartbeat", daemon=True
        )
        self._models = ModelCache(
            engine=ctx.settings.engine, precision=ctx.settings.precision, metrics=ctx.metrics
        )
        self.executor_error: str | None = None  # why the executor is not reachable

    def start(self) -> None:
        self.recover()
        if self.ctx.settings.executor == "ray":
            self._join_ray()
        self._dispatcher.start()
        self._heart.start()

    def alive(self) -> bool:
        """Whether the pool claims and renews (its threads run)."""
        return self._dispatcher.is_alive() and self._heart.is_alive()

    def figures(self) -> StoreFigures:
        """Deployments by status in the store, and this server's runs (for /metrics)."""
        with self.ctx.db.session() as session:
            rows = session.execute(
                select(Deployment.status, func.count()).group_by(Deployment.status)
            )
            by_status = {str(status): 0 for status in states.DeploymentStatus}
            by_status.update({status: count for status, count in rows})
        return StoreFigures(by_status, self.ctx.runs.running())

    def _join_ray(self) -> None:
        # Join (or start) Ray here, in the thread that starts the server: a Ray started
        # from a run's thread leaves two of its agent processes behind at shutdown.
        from caffebatch.jobs import connect_ray

        try:
            connect_ray(self.ctx.settings.ray)
        except CaffebatchError as error:  # each run will fail with this reason
            self.executor_error = f"the ray executor is not available: {error}"
            log.error("%s", self.executor_error)

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop claiming, ask running runs to stop (they are requeued), and wait for them."""
        self._stopping.set()
        self.ctx.wake.set()
        self.ctx.runs.cancel_all()
        self._dispatcher.join(wait_s)
        self._heart.join(wait_s)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def recover(self) -> int:
        """Requeue the runs whose lease lapsed (their server died), never a live server's;
        remove the deleted ones that have stopped."""
        with self.ctx.db.session() as session:
            requeued = leases.requeue_lapsed(session, keep=self.ctx.runs.ids())
            removed = leases.finish_deletions(session)
        if removed:
            log.info("removed %d deleted deployment(s) once stopped: %s",
                     len(removed), ", ".join(removed))
        if requeued:
            log.info("requeued %d interrupted run(s): %s", len(requeued), ", ".join(requeued))
            self.ctx.wake.set()
        return len(requeued)

    def renew(self) -> None:
        """Renew this server's leases; stop the runs it no longer holds (deleted or taken)."""
        mine = self.ctx.runs.ids()
        with self.ctx.db.session() as session:
            held = leases.renew(session, self.ctx.lease, mine)
        # a run that just ended has left RUNNING too; stopping it then changes nothing
        for deployment_id in mine - held:
            self.ctx.runs.stop(deployment_id)

    def _heartbeat(self) -> None:
        while not self._stopping.wait(self.ctx.settings.lease_s / 3):
            for step in (self.renew, self.recover):
                try:
                    step()
                except Exception:
                    log.exception("the lease heartbeat failed (%s); retrying", step.__name__)

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
                if leases.claim(session, self.ctx.lease, deployment_id, attempts + 1):
                    claimed.append(deployment_id)
        return claimed

    def _run(self, deployment_id: str, cancel: threading.Event) -> None:
        try:
            Execution(self.ctx, deployment_id, cancel, self._stopping, self._models).run()
        except Exception as error:
            log.exception("deployment %s: the run crashed", deployment_id)
            self._fail(deployment_id, error)
        finally:
            self._release_if_deleted(deployment_id)
            self.ctx.runs.finish(deployment_id)
            self.ctx.metrics.run_ended(deployment_id)
            self.ctx.wake.set()

    def _release_if_deleted(self, deployment_id: str) -> None:
        """A DELETE sent elsewhere waits for this: the run has ended, its writes are done."""
        try:
            with self.ctx.db.session() as session:
                leases.release_deleted(session, self.ctx.lease, deployment_id)
        except Exception:  # the lease lapses instead, and the row goes then
            log.exception("deployment %s: could not release the deleted run", deployment_id)

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
                    where=self.ctx.lease.held(), **leases.RELEASED,
                    progress={"status": states.FAILURE, "failure": failure},
                )  # fmt: skip
        except Exception:
            log.exception("deployment %s: could not record the crash", deployment_id)
