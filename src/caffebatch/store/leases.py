"""Run leases: how several servers share one store's deployments without stepping on each other.

A server claims a queued deployment with a lease in its name (`lease_owner`) that holds
until `lease_expires_at`; while the run lives, the server renews it (with each progress save,
and from the worker pool's heartbeat). A RUNNING deployment whose lease has lapsed belongs
to a server that died or lost the store: any server may requeue it, and the rerun resumes
where the results stop. A live server's runs are never requeued. Every write a run makes
(progress, usage, its end) is conditioned on its lease, so a server that lost one (a pause
longer than the lease) stops instead of counting twice.

A DELETE sent to a server that does not run the deployment marks the row `deleting`: the
running server no longer holds the lease from then on, so its next renewal or progress save
stops the run; once the run has ended (its writes under way finished) that server releases
the lease, and the row may go. A marked row whose lease lapsed (its server died) may go at
once. Nothing requeues a marked row.

Leases are compared on the servers' clocks (UTC), so the servers' clocks must agree to well
within the lease's length (NTP does).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from caffebatch.store import states
from caffebatch.store.tables import Deployment, utcnow


def server_name() -> str:
    """A name for this server process, unique among the store's servers, readable in the store."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Lease:
    """This server's claim on its runs: whose (`owner`) and for how long (`length_s`)."""

    length_s: float
    owner: str = field(default_factory=server_name)

    def until(self) -> datetime:
        """When a lease taken or renewed now lapses."""
        return utcnow() + timedelta(seconds=self.length_s)

    def held(self) -> ColumnElement[bool]:
        """The condition a deployment row meets while this server holds its run."""
        return (
            (Deployment.status == states.RUNNING)
            & (Deployment.lease_owner == self.owner)
            & ~Deployment.deleting
        )

    def not_elsewhere(self, deployment_id: str) -> ColumnElement[bool]:
        """The deployment is this server's, or gone: no other server runs it, none will rerun
        it (the condition for counting this server's usage of it)."""
        return ~exists().where(
            Deployment.id == deployment_id,
            or_(Deployment.lease_owner.is_(None), Deployment.lease_owner != self.owner),
        )

    def terms(self) -> dict[str, Any]:
        """The column values that take or renew the lease."""
        return {"lease_owner": self.owner, "lease_expires_at": self.until()}


RELEASED: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


def claim(session: Session, lease: Lease, deployment_id: str, attempts: int) -> bool:
    """Take a queued deployment under `lease`; False when another server took it first."""
    return states.transition(
        session, deployment_id, states.INITIALIZING, states.RUNNING,
        attempts=attempts, **lease.terms(),
    )  # fmt: skip


def renew(session: Session, lease: Lease, deployment_ids: set[str]) -> set[str]:
    """Extend the lease on these runs; the ids still held (the others were deleted or taken)."""
    if not deployment_ids:
        return set()
    renewed = session.execute(
        update(Deployment)
        .where(Deployment.id.in_(deployment_ids), lease.held())
        .values(lease_expires_at=lease.until())
        .returning(Deployment.id)
        .execution_options(synchronize_session=False)
    )
    return set(renewed.scalars())


def lapsed() -> ColumnElement[bool]:
    """RUNNING with no lease in force: its server stopped renewing it (or predates leases)."""
    return (Deployment.status == states.RUNNING) & ~Deployment.deleting & _expired()


def _expired() -> ColumnElement[bool]:
    return or_(Deployment.lease_expires_at.is_(None), Deployment.lease_expires_at < utcnow())


def requeue_lapsed(session: Session, keep: Collection[str] = ()) -> list[str]:
    """Put RUNNING deployments whose lease lapsed back in the queue; the ids requeued.

    `keep`: the runs this server is executing itself, which it renews rather than requeues.
    Each move rechecks the lapse, so two servers requeueing at once move a run once.
    """
    candidates = session.scalars(
        select(Deployment.id).where(lapsed()).order_by(Deployment.created_at, Deployment.id)
    )
    return [
        deployment_id
        for deployment_id in list(candidates)
        if deployment_id not in keep
        and states.transition(
            session, deployment_id, states.RUNNING, states.INITIALIZING, where=lapsed(), **RELEASED
        )
    ]


def mark_deleting(session: Session, deployment_id: str) -> None:
    """Ask the server running this deployment to stop it: it holds the lease no longer."""
    session.execute(
        update(Deployment).where(Deployment.id == deployment_id).values(deleting=True)
    )


def stopped_elsewhere() -> ColumnElement[bool]:
    """A row marked `deleting` that no server is still stopping: it ended or released its
    lease (its writes are done), or the lease lapsed (its server died)."""
    return Deployment.deleting & (
        (Deployment.status != states.RUNNING) | Deployment.lease_owner.is_(None) | _expired()
    )


def release_deleted(session: Session, lease: Lease, deployment_id: str) -> None:
    """After a run of this server ended: if its row is marked `deleting`, say it stopped."""
    session.execute(
        update(Deployment)
        .where(
            Deployment.id == deployment_id,
            Deployment.lease_owner == lease.owner,
            Deployment.deleting,
        )
        .values(**RELEASED)
    )


def finish_deletions(session: Session) -> list[str]:
    """Remove the rows marked `deleting` whose run has stopped; their ids. What a DELETE
    answered 409 `run_stopping` for goes here, once its run has ended."""
    return list(
        session.scalars(delete(Deployment).where(stopped_elsewhere()).returning(Deployment.id))
    )
