"""Column types read back what was written, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from caffebatch.store import Database
from caffebatch.store.tables import Deployment, ModelVersion
from tests.store.test_states import make_deployment


def test_times_come_back_aware_and_in_utc(db: Database) -> None:
    deployment_id = make_deployment(db)
    written = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5)))
    with db.session() as session:
        session.get(Deployment, deployment_id).created_at = written
    with db.session() as session:
        read = session.get(Deployment, deployment_id).created_at
    assert read == written and read.utcoffset() == timedelta(0)
    assert read.tzinfo is not None and read.astimezone(UTC).hour == 7


def test_json_and_binary_columns_round_trip(db: Database) -> None:
    deployment_id = make_deployment(db)
    progress = {
        "status": "RUNNING",
        "records_per_second": 12.5,
        "errors": [{"input": "dïgit ✓.json", "message": 'bad "data"\n\\'}],
        "finished_at": None,
        "nested": {"shape": [1, 28, 28], "ok": True},
    }
    secrets = bytes(range(256))
    with db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        deployment.progress, deployment.secrets = progress, secrets
        session.add(ModelVersion(model_id=deployment.model_id, archive_name="package.zip"))
    with db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        assert (deployment.progress, deployment.secrets) == (progress, secrets)
        version = session.query(ModelVersion).one()
        assert version.meta == {} and version.created_at.tzinfo is not None
