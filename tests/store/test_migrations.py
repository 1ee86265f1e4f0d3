"""Migrations: an empty store gets tables.py's schema; a store that create_all made before
migrations existed (a frozen copy of 0.1.0's tables, with rows) is adopted and upgraded in
place with its data intact; stores that cannot be upgraded are refused with a clear error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import MetaData, select, text

from caffebatch.cli import main
from caffebatch.errors import MigrationError
from caffebatch.service.crypto import hash_password, verify_password
from caffebatch.store import Database, migrate
from caffebatch.store.migrate import head_revision
from caffebatch.store.tables import Base, Deployment, Instance, ModelVersion, Usage, User
from tests.postgres import database_url
from tests.store import schema_0001


def schema_differences(db: Database, metadata: MetaData = Base.metadata) -> list:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


def revision_of(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture
def url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return database_url(request, backend, tmp_path)


def test_an_empty_store_gets_the_schema_tables_py_declares(url: str) -> None:
    db = Database(url)
    try:
        assert db.migrate() == head_revision()
        assert revision_of(db) == head_revision()
        # a column added to tables.py without a revision fails here
        assert schema_differences(db) == []
    finally:
        db.dispose()


def test_the_first_revision_is_the_schema_of_0_1_0(url: str) -> None:
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            command.upgrade(migrate._config(connection), migrate.FIRST_REVISION)
            connection.execute(text("DELETE FROM alembic_version"))
        assert revision_of(db) is None
        assert schema_differences(db, schema_0001.metadata) == []
    finally:
        db.dispose()


def test_a_store_made_before_migrations_is_upgraded_in_place_with_its_data(url: str) -> None:
    stored_hash = hash_password("ana-password")
    db = Database(url)
    try:
        schema_0001.create_old_store(db.engine, stored_hash)
        assert revision_of(db) is None
        assert db.migrate() == head_revision()
        assert schema_differences(db) == []
        with db.session() as session:
            instance = session.get(Instance, schema_0001.INSTANCE)
            assert instance is not None and instance.name == "research"
            assert instance.created_at == schema_0001.WHEN  # aware, UTC, on both backends
            user = session.scalar(select(User).where(User.username == "ana"))
            assert user is not None and verify_password("ana-password", user.password_hash)
            version = session.get(ModelVersion, schema_0001.VERSION)
            assert version is not None and version.meta == {"inputs": ["data"], "outputs": ["prob"]}
            deployment = session.get(Deployment, schema_0001.DEPLOYMENT)
            assert deployment is not None
            assert (deployment.status, deployment.attempts) == ("SUCCESS", 1)
            assert deployment.input == {"type": "local", "path": "/data/in"}
            assert deployment.secrets == schema_0001.SECRETS
            assert deployment.progress == {"scored": 10, "failed": 0}
            usage = session.get(Usage, schema_0001.DEPLOYMENT)
            assert usage is not None and (usage.predictions, usage.computation_s) == (10, 0.5)
        assert db.migrate() == head_revision()  # again: nothing to do, nothing lost
        with db.session() as session:
            assert session.get(Deployment, schema_0001.DEPLOYMENT) is not None
    finally:
        db.dispose()


def test_servers_starting_together_migrate_once(postgres_url: str) -> None:
    stores = [Database(postgres_url) for _ in range(3)]
    results: list[object] = []

    def start(db: Database) -> None:
        try:
            results.append(db.migrate())
        except Exception as error:  # noqa: BLE001 - the test reports what each one got
            results.append(error)

    threads = [threading.Thread(target=start, args=(db,)) for db in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert results == [head_revision()] * 3
        assert schema_differences(stores[0]) == []
    finally:
        for db in stores:
            db.dispose()


def test_a_store_with_only_some_of_the_tables_is_refused(url: str) -> None:
    db = Database(url)
    try:
        schema_0001.instances.create(db.engine)
        with pytest.raises(MigrationError, match=r"\['instances'\] but not \['deployments'"):
            db.migrate()
    finally:
        db.dispose()


def test_a_store_migrated_by_a_newer_caffebatch_is_refused(url: str) -> None:
    db = Database(url)
    try:
        db.migrate()
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(MigrationError, match="revision '9999'.*a newer caffebatch"):
            db.migrate()
    finally:
        db.dispose()


def test_admin_migrate_adopts_a_store_made_before_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old = Database(f"sqlite:///{home / 'caffebatch.db'}")
    schema_0001.create_old_store(old.engine, hash_password("x"))
    old.dispose()
    monkeypatch.setenv("CAFFEBATCH_HOME", str(home))
    result = CliRunner().invoke(main, ["admin", "migrate"])
    assert result.exit_code == 0, result.output
    assert f"caffebatch.db: at revision {head_revision()}" in result.output
    listed = CliRunner().invoke(main, ["admin", "list-instances"])
    assert listed.exit_code == 0 and "research" in listed.output
