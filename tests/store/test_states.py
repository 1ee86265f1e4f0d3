"""The transition table, and claiming through it, on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import pytest

from caffebatch.errors import ConflictError
from caffebatch.store import Database, states
from caffebatch.store.tables import Deployment, Instance, PublishedModel


def make_deployment(db: Database, status: str = states.INITIALIZING) -> str:
    with db.session() as session:
        instance = Instance(name="i", plan="lite")
        session.add(instance)
        session.flush()
        model = PublishedModel(instance_id=instance.id, name="m", model_type="caffe-1.0")
        session.add(model)
        session.flush()
        deployment = Deployment(
            instance_id=instance.id,
            model_id=model.id,
            version_id="v",
            name="d",
            status=status,
            input={},
            output={},
            secrets=b"",
        )
        session.add(deployment)
        session.flush()
        return deployment.id


def status_of(db: Database, deployment_id: str) -> str | None:
    with db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        return None if deployment is None else deployment.status


@pytest.mark.parametrize(
    ("current", "target"), [(s, t) for s, targets in states.TRANSITIONS.items() for t in targets]
)
def test_every_allowed_transition_applies(db: Database, current: str, target: str) -> None:
    deployment_id = make_deployment(db, current)
    with db.session() as session:
        assert states.transition(session, deployment_id, current, target)
    assert status_of(db, deployment_id) == target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (states.INITIALIZING, states.SUCCESS),
        (states.SUCCESS, states.RUNNING),
        (states.FAILURE, states.INITIALIZING),
        (states.PARTIAL_SUCCESS, states.SUCCESS),
    ],
)
def test_forbidden_transitions_are_refused(db: Database, current: str, target: str) -> None:
    deployment_id = make_deployment(db, current)
    with pytest.raises(ConflictError, match=f"from {current} to {target}"), db.session() as session:
        states.transition(session, deployment_id, current, target)
    assert status_of(db, deployment_id) == current


def test_a_claim_succeeds_once(db: Database) -> None:
    deployment_id = make_deployment(db)
    with db.session() as first, db.session() as second:
        assert states.transition(first, deployment_id, states.INITIALIZING, states.RUNNING)
        first.commit()
        assert not states.transition(second, deployment_id, states.INITIALIZING, states.RUNNING)
    assert status_of(db, deployment_id) == states.RUNNING


def test_a_deleted_deployment_cannot_move(db: Database) -> None:
    deployment_id = make_deployment(db, states.RUNNING)
    with db.session() as session:
        session.delete(session.get(Deployment, deployment_id))
    with db.session() as session:
        assert not states.transition(session, deployment_id, states.RUNNING, states.SUCCESS)


def test_how_a_run_ends_moves_its_deployment() -> None:
    from caffebatch.jobs import RunStatus

    cancelled = RunStatus.CANCELLED
    assert states.run_end(cancelled, states.Cancel.SERVER_STOPPING).status == states.INITIALIZING
    assert states.run_end(cancelled, states.Cancel.DELETED).status is None
    limit = states.run_end(cancelled, states.Cancel.PLAN_LIMIT)
    assert (limit.status, limit.failure_code) == (states.FAILURE, "plan_limit_exceeded")
    # a run that ended by itself ends so, whatever was asked of it meanwhile
    for status in (RunStatus.SUCCESS, RunStatus.PARTIAL_SUCCESS, RunStatus.FAILURE):
        for cancel in states.Cancel:
            end = states.run_end(status, cancel)
            assert (end.status, end.failure_code) == (status.value, None)
