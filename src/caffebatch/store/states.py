"""Deployment statuses and the one table of allowed transitions.

    INITIALIZING ──► RUNNING ──► SUCCESS | PARTIAL_SUCCESS | FAILURE
         │              │
         └─► FAILURE    └─► INITIALIZING   (a restarted server requeues interrupted runs)

Deleting a deployment removes its row whatever its status (a running one is cancelled
first). Every status change goes through `transition`, which also makes claiming atomic:
the UPDATE only matches a row still in the expected status, on SQLite and PostgreSQL alike.
How a run's end moves its deployment is the table `RUN_ENDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from caffebatch.errors import ConflictError, LimitExceededError
from caffebatch.jobs import RunStatus
from caffebatch.store.tables import Deployment, utcnow

if TYPE_CHECKING:
    from sqlalchemy import CursorResult


class DeploymentStatus(StrEnum):
    """A deployment's status; the values are stored and shown by the API as they are."""

    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    FAILURE = "FAILURE"


INITIALIZING = DeploymentStatus.INITIALIZING
RUNNING = DeploymentStatus.RUNNING
SUCCESS = DeploymentStatus.SUCCESS
PARTIAL_SUCCESS = DeploymentStatus.PARTIAL_SUCCESS
FAILURE = DeploymentStatus.FAILURE

TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    INITIALIZING: frozenset({RUNNING, FAILURE}),
    RUNNING: frozenset({SUCCESS, PARTIAL_SUCCESS, FAILURE, INITIALIZING}),
    SUCCESS: frozenset(),
    PARTIAL_SUCCESS: frozenset(),
    FAILURE: frozenset(),
}

ACTIVE = frozenset({INITIALIZING, RUNNING})


class Cancel(StrEnum):
    """Why a deployment's run was cancelled."""

    DELETED = "deleted"            # DELETE removed the deployment
    SERVER_STOPPING = "stopping"   # the server is shutting down
    PLAN_LIMIT = "plan_limit"      # the instance's plan ran out while it ran


@dataclass(frozen=True)
class RunEnd:
    """What becomes of a RUNNING deployment when its run ends.

    `status` None: nothing (the row is gone). `failure_code`: the run's failure is replaced
    by this code and the reason the cancel gave.
    """

    status: DeploymentStatus | None
    failure_code: str | None = None


# (how the run ended, why it was cancelled) -> what becomes of the deployment; a run that
# ended by itself ends the same whatever was asked of it meanwhile (see `run_end`)
RUN_ENDS: dict[tuple[RunStatus, Cancel | None], RunEnd] = {
    (RunStatus.SUCCESS, None): RunEnd(SUCCESS),
    (RunStatus.PARTIAL_SUCCESS, None): RunEnd(PARTIAL_SUCCESS),
    (RunStatus.FAILURE, None): RunEnd(FAILURE),
    (RunStatus.CANCELLED, Cancel.PLAN_LIMIT): RunEnd(FAILURE, LimitExceededError.code),
    (RunStatus.CANCELLED, Cancel.SERVER_STOPPING): RunEnd(INITIALIZING),  # requeued
    (RunStatus.CANCELLED, Cancel.DELETED): RunEnd(None),
}


def run_end(status: RunStatus, cancel: Cancel) -> RunEnd:
    """What becomes of a deployment whose run ended with `status`, cancelled for `cancel`."""
    return RUN_ENDS.get((status, cancel)) or RUN_ENDS[(status, None)]


def check(current: str, target: str) -> None:
    """Raise ConflictError unless the table allows `current` -> `target`."""
    allowed: frozenset[DeploymentStatus] = TRANSITIONS.get(DeploymentStatus(current), frozenset())
    if target not in allowed:
        raise ConflictError(
            f"a deployment cannot go from {current} to {target}", code="invalid_transition"
        )


def transition(
    session: Session,
    deployment_id: str,
    current: str,
    target: str,
    *,
    where: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Move one deployment from `current` to `target`, setting `values` too.

    Returns False when the row is no longer in `current` (another worker claimed it,
    or it was deleted), or fails the extra condition `where` (a lease held by another
    server), so callers can race safely; raises ConflictError when the table forbids the move.
    """
    check(current, target)
    conditions = [Deployment.id == deployment_id, Deployment.status == current]
    if where is not None:
        conditions.append(where)
    result = session.execute(
        update(Deployment)
        .where(*conditions)
        .values(status=target, modified_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1
