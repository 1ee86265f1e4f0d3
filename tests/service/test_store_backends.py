"""The worker pool's claims and recovery, usage and tenants, on SQLite and PostgreSQL alike.

Several `WorkerPool`s, each with its own context (engine and connections), stand for several
servers sharing one store.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from caffebatch.errors import ConflictError
from caffebatch.service.context import ServiceContext, open_context
from caffebatch.service.instances import bootstrap, create_user
from caffebatch.service.usage import consumed, usage_of
from caffebatch.service.worker import WorkerPool
from caffebatch.settings import Settings
from caffebatch.store import states
from caffebatch.store.tables import Deployment, Instance, PublishedModel, Usage

SERVERS = 3
QUEUED = 9


def add_deployments(ctx: ServiceContext, statuses: list[str]) -> list[str]:
    """One instance and model with a deployment (and its usage row) in each status."""
    with ctx.db.session() as session:
        instance = Instance(name="i", plan="standard")
        session.add(instance)
        session.flush()
        model = PublishedModel(instance_id=instance.id, name="m", model_type="caffe-1.0")
        session.add(model)
        session.flush()
        rows = [
            Deployment(
                instance_id=instance.id,
                model_id=model.id,
                version_id="v",
                name=f"d{n}",
                status=status,
                input={},
                output={},
                secrets=b"",
            )
            for n, status in enumerate(statuses)
        ]
        session.add_all(rows)
        session.flush()
        session.add_all(Usage(deployment_id=d.id, instance_id=instance.id) for d in rows)
        return [d.id for d in rows]


def statuses(ctx: ServiceContext) -> dict[str, tuple[str, int]]:
    with ctx.db.session() as session:
        rows = session.execute(select(Deployment.id, Deployment.status, Deployment.attempts))
        return {did: (status, attempts) for did, status, attempts in rows}


def test_servers_sharing_a_store_claim_each_queued_deployment_once(
    context: ServiceContext, settings: Settings
) -> None:
    queued = add_deployments(context, [states.INITIALIZING] * QUEUED)
    with context.db.session() as session:  # queued at the same instant: ties in the order
        session.execute(update(Deployment).values(created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    others = [open_context(settings) for _ in range(SERVERS - 1)]
    pools = [WorkerPool(ctx) for ctx in [context, *others]]
    barrier = threading.Barrier(SERVERS)

    def claim(pool: WorkerPool) -> list[str]:
        barrier.wait(timeout=30)
        return pool._claim(QUEUED)  # each asks for the whole queue at once

    try:
        with ThreadPoolExecutor(SERVERS) as runner:
            claimed = [d for batch in runner.map(claim, pools) for d in batch]
    finally:
        for ctx in others:
            ctx.db.dispose()
    assert sorted(claimed) == sorted(queued), "a deployment was claimed twice, or never"
    assert set(statuses(context).values()) == {(states.RUNNING, 1)}


def test_recovery_requeues_only_running_deployments(context: ServiceContext) -> None:
    kinds = [states.RUNNING, states.RUNNING, states.INITIALIZING, states.SUCCESS, states.FAILURE]
    ids = add_deployments(context, kinds)
    assert WorkerPool(context).recover() == 2
    after = statuses(context)
    assert [after[did][0] for did in ids] == [
        states.INITIALIZING, states.INITIALIZING, states.INITIALIZING, states.SUCCESS,
        states.FAILURE,
    ]  # fmt: skip


def test_a_servers_live_runs_are_not_requeued_and_a_deletion_reaches_it(
    context: ServiceContext, settings: Settings
) -> None:
    running, gone = add_deployments(context, [states.INITIALIZING, states.INITIALIZING])
    mine = WorkerPool(context)
    assert sorted(mine._claim(2)) == sorted([running, gone])
    cancels = {did: context.runs.start(did) for did in (running, gone)}
    other_ctx = open_context(settings)
    try:
        other = WorkerPool(other_ctx)
        assert other.recover() == 0  # a server starting now leaves them to their server
        with other_ctx.db.session() as session:  # a DELETE answered by the other server
            session.delete(session.get(Deployment, gone))
        mine.renew()
        assert cancels[gone].is_set() and not cancels[running].is_set()
        assert other.recover() == 0
    finally:
        other_ctx.db.dispose()
        for did in (running, gone):
            context.runs.finish(did)
    assert statuses(context)[running] == (states.RUNNING, 1)


def test_usage_counts_survive_a_deleted_deployment(
    context: ServiceContext, settings: Settings
) -> None:
    first, second = add_deployments(context, [states.SUCCESS, states.SUCCESS])
    with context.db.session() as session:
        session.get(Usage, first).predictions, session.get(Usage, first).computation_s = 7, 1.25
        session.get(Usage, second).predictions, session.get(Usage, second).computation_s = 5, 0.5
        instance_id = session.get(Deployment, first).instance_id
    with context.db.session() as session:
        session.delete(session.get(Deployment, first))
    with context.db.session() as session:
        assert consumed(session, instance_id) == (12, pytest.approx(1.75))
        usage = usage_of(session, settings, instance_id)
    assert (usage.model_count.current, usage.deployment_count.current) == (1, 1)
    assert usage.prediction_count.current == 12
    assert (usage.computation_time.current, usage.capacity_units.current) == (2, 1750)


def test_bootstrap_once_and_usernames_are_unique(context: ServiceContext) -> None:
    created = bootstrap(context)
    assert created is not None and bootstrap(context) is None
    with pytest.raises(ConflictError, match="already exists"), context.db.session() as session:
        create_user(session, created.instance_id, created.username, "another")
    # the failed insert left the store usable (PostgreSQL aborts the whole transaction)
    with context.db.session() as session:
        create_user(session, created.instance_id, "second", "pw")
        assert session.scalar(select(Instance.id)) == created.instance_id
