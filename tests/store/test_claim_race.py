"""The atomic claim under real concurrency: threads, each on its own connection, race to
claim the same queued deployment; exactly one wins (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from caffebatch.store import Database, states
from caffebatch.store.tables import Deployment
from tests.store.test_states import make_deployment, status_of

RACERS = 6
ROUNDS = 4


def race(db: Database, deployment_id: str) -> list[bool]:
    """Every racer opens its transaction, waits for the others, then claims and commits."""
    barrier = threading.Barrier(RACERS)

    def claim(_: int) -> bool:
        with db.session() as session:
            session.get(Deployment, deployment_id)  # each transaction has seen INITIALIZING
            barrier.wait(timeout=30)
            return states.transition(
                session, deployment_id, states.INITIALIZING, states.RUNNING, attempts=1
            )

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(claim, range(RACERS)))


def test_exactly_one_racer_claims_a_queued_deployment(db: Database) -> None:
    for _ in range(ROUNDS):
        deployment_id = make_deployment(db)
        wins = race(db, deployment_id)
        assert wins.count(True) == 1, wins
        assert status_of(db, deployment_id) == states.RUNNING
        with db.session() as session:
            assert session.get(Deployment, deployment_id).attempts == 1
