"""Bring a store's schema up to date with Alembic, on SQLite and PostgreSQL.

The revisions live in `caffebatch.store.migrations` (shipped in the package) and run on the
store's own engine, without an alembic.ini. Three cases:

- an empty database: every revision runs, from the first;
- a store that has Alembic's version table: the revisions it lacks run;
- a store made by `create_all` before migrations existed (caffebatch 0.1.0): its tables are
  checked against the first revision, it is stamped with it, then upgraded like the others.

On PostgreSQL the whole upgrade runs in one transaction under an advisory lock, so servers
starting together migrate once and the others wait, then find nothing to do.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from caffebatch.errors import MigrationError

SCRIPTS = "caffebatch.store:migrations"
FIRST_REVISION = "0001"
# An arbitrary 64-bit key for pg_advisory_xact_lock, the same in every caffebatch process.
LOCK_KEY = 0x6361666665626174  # "caffebat"

# The tables and columns of revision 0001, as create_all made them before migrations.
BEFORE_MIGRATIONS: dict[str, frozenset[str]] = {
    "instances": frozenset({"id", "name", "plan", "created_at", "modified_at"}),
    "users": frozenset({"id", "instance_id", "username", "password_hash", "created_at"}),
    "published_models": frozenset({
        "id", "instance_id", "name", "description", "model_type", "latest_version_id",
        "created_at", "modified_at",
    }),
    "model_versions": frozenset({"id", "model_id", "archive_name", "meta", "created_at"}),
    "deployments": frozenset({
        "id", "instance_id", "model_id", "version_id", "name", "description", "status", "input",
        "output", "secrets", "options", "progress", "attempts", "created_at", "modified_at",
    }),
    "usage": frozenset({"deployment_id", "instance_id", "predictions", "computation_s"}),
}  # fmt: skip


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of caffebatch knows."""
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current_revision(connection: Connection) -> str | None:
    """The revision the store is at; None when Alembic has never run on it."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Migrate the store to the newest revision and return it; MigrationError when it cannot."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        config = _config(connection)
        if current_revision(connection) is None and _adopt_tables_made_by_create_all(connection):
            command.stamp(config, FIRST_REVISION)
        try:
            command.upgrade(config, "head")
        except CommandError as error:
            raise MigrationError(
                f"the store at {engine.url.render_as_string(hide_password=True)} is at "
                f"revision {current_revision(connection)!r}, which this caffebatch does not "
                f"know (it knows up to {head_revision()!r}): a newer caffebatch migrated it"
            ) from error
        return current_revision(connection) or ""


def _adopt_tables_made_by_create_all(connection: Connection) -> bool:
    """Whether the unversioned store holds caffebatch 0.1.0's tables (False: it is empty).

    MigrationError when it holds some of them, or lacks columns: that is not a store that
    create_all made, and upgrading it would fail half way."""
    present = set(inspect(connection).get_table_names()) & set(BEFORE_MIGRATIONS)
    if not present:
        return False
    missing_tables = sorted(set(BEFORE_MIGRATIONS) - present)
    if missing_tables:
        raise MigrationError(
            f"the store has caffebatch tables {sorted(present)} but not {missing_tables}, and "
            "no migration record (alembic_version): expected all of them or none"
        )
    for table, expected in BEFORE_MIGRATIONS.items():
        columns = {column["name"] for column in inspect(connection).get_columns(table)}
        if not expected <= columns:
            raise MigrationError(
                f"table {table!r} lacks columns {sorted(expected - columns)} of caffebatch "
                "0.1.0's schema; it cannot be adopted as revision 0001"
            )
    return True
