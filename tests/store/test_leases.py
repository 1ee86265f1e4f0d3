"""Run leases between two servers on one store (SQLite and PostgreSQL): a live lease is never
requeued, a lapsed one is requeued once, and its first holder then finds it no longer held; a
run deleted through another server stops, and its row goes once the run released it."""

from __future__ import annotations

import time

from caffebatch.store import Database, leases, states
from caffebatch.store.tables import Deployment
from tests.store.test_states import make_deployment, status_of


def owner_of(db: Database, deployment_id: str) -> str | None:
    with db.session() as session:
        return session.get(Deployment, deployment_id).lease_owner


def test_a_live_lease_is_never_requeued_and_a_lapsed_one_moves_once(db: Database) -> None:
    first, second = leases.Lease(0.5), leases.Lease(30)
    assert first.owner != second.owner
    deployment_id = make_deployment(db)
    with db.session() as session:
        assert leases.claim(session, first, deployment_id, attempts=1)
    with db.session() as session:
        assert not leases.claim(session, second, deployment_id, attempts=1)
    assert owner_of(db, deployment_id) == first.owner

    with db.session() as session:  # the other server starts: nothing of a live run moves
        assert leases.requeue_lapsed(session) == []
    with db.session() as session:
        assert leases.renew(session, first, {deployment_id}) == {deployment_id}
        assert leases.renew(session, second, {deployment_id}) == set()

    time.sleep(0.7)  # the first server stops renewing: its lease lapses
    with db.session() as session:  # its own runs are kept by the server running them
        assert leases.requeue_lapsed(session, keep={deployment_id}) == []
    with db.session() as session:
        assert leases.requeue_lapsed(session) == [deployment_id]
    with db.session() as session:
        assert leases.requeue_lapsed(session) == []
    assert status_of(db, deployment_id) == states.INITIALIZING
    assert owner_of(db, deployment_id) is None

    with db.session() as session:
        assert leases.claim(session, second, deployment_id, attempts=2)
    with db.session() as session:  # the first holder's renewal finds the run taken
        assert leases.renew(session, first, {deployment_id}) == set()
        assert not states.transition(
            session, deployment_id, states.RUNNING, states.SUCCESS, where=first.held()
        )
    assert owner_of(db, deployment_id) == second.owner


def test_a_run_left_running_before_leases_existed_counts_as_lapsed(db: Database) -> None:
    deployment_id = make_deployment(db, states.RUNNING)  # no lease columns set
    with db.session() as session:
        assert leases.requeue_lapsed(session) == [deployment_id]
    assert status_of(db, deployment_id) == states.INITIALIZING


def test_a_deletion_elsewhere_takes_the_lease_and_the_row_goes_once_the_run_released_it(
    db: Database,
) -> None:
    runner = leases.Lease(30)
    running, other = make_deployment(db), make_deployment(db)
    with db.session() as session:
        assert leases.claim(session, runner, running, attempts=1)
        assert leases.claim(session, runner, other, attempts=1)
        leases.mark_deleting(session, running)
    with db.session() as session:  # the runner's next renewal stops it; the other run goes on
        assert leases.renew(session, runner, {running, other}) == {other}
        assert not states.transition(
            session, running, states.RUNNING, states.SUCCESS, where=runner.held()
        )
        assert leases.finish_deletions(session) == []  # still stopping: its writes under way
        assert leases.requeue_lapsed(session) == []
    with db.session() as session:
        leases.release_deleted(session, runner, other)  # not marked: nothing changes
        leases.release_deleted(session, runner, running)
    assert owner_of(db, other) == runner.owner and owner_of(db, running) is None
    with db.session() as session:
        assert leases.requeue_lapsed(session) == []  # released, yet never queued again
        assert leases.finish_deletions(session) == [running]
    with db.session() as session:
        assert session.get(Deployment, running) is None
        assert session.get(Deployment, other) is not None


def test_a_deleted_run_whose_server_died_goes_once_its_lease_lapsed(db: Database) -> None:
    dead = leases.Lease(0.3)
    deployment_id = make_deployment(db)
    with db.session() as session:
        assert leases.claim(session, dead, deployment_id, attempts=1)
        leases.mark_deleting(session, deployment_id)
    with db.session() as session:
        assert leases.finish_deletions(session) == []
    time.sleep(0.5)
    with db.session() as session:
        assert leases.requeue_lapsed(session) == []
        assert leases.finish_deletions(session) == [deployment_id]
