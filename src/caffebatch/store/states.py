"""Deployment statuses and the one table of allowed transitions.

    INITIALIZING ──► RUNNING ──► SUCCESS | PARTIAL_SUCCESS | FAILURE
         │              │
         └─► FAILURE    └─► INITIALIZING   (a restarted server requeues interrupted runs)

Deleting a deployment removes its row whatever its status (a running one is cancelled
first). Every status change goes through `transition`, which also makes claiming atomic:
the UPDATE only matches a row still in the expected status, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from caffebatch.errors import ConflictError
from caffebatch.store.tables import Deployment, utcnow

INITIALIZING = "INITIALIZING"
RUNNING = "RUNNING"
SUCCESS = "SUCCESS"
PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
FAILURE = "FAILURE"

TRANSITIONS: dict[str, frozenset[str]] = {
    INITIALIZING: frozenset({RUNNING, FAILURE}),
    RUNNING: frozenset({SUCCESS, PARTIAL_SUCCESS, FAILURE, INITIALIZING}),
    SUCCESS: frozenset(),
    PARTIAL_SUCCESS: frozenset(),
    FAILURE: frozenset(),
}

ACTIVE = frozenset({INITIALIZING, RUNNING})


def check(current: str, target: str) -> None:
    """Raise ConflictError unless the table allows `current` -> `target`."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise ConflictError(
            f"a deployment cannot go from {current} to {target}", code="invalid_transition"
        )


def transition(
    session: Session, deployment_id: str, current: str, target: str, **values: Any
) -> bool:
    """Move one deployment from `current` to `target`, setting `values` too.

    Returns False when the row is no longer in `current` (another worker claimed it,
    or it was deleted), so callers can race safely; raises ConflictError when the
    table forbids the move.
    """
    check(current, target)
    result = session.execute(
        update(Deployment)
        .where(Deployment.id == deployment_id, Deployment.status == current)
        .values(status=target, modified_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
