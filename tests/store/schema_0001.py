"""A frozen copy of the store's tables as caffebatch 0.1.0 declared them (before migrations),
and a few rows in them: the stores that `create_all` made then, which migrations must adopt.

Never edit this file when the schema changes: it stands for stores that already exist.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _times(*names: str) -> list[Column]:
    return [Column(name, DateTime(timezone=True), nullable=False) for name in names]


def _owner(index: bool) -> Column:
    return Column(
        "instance_id", String(36), ForeignKey("instances.id", ondelete="CASCADE"),
        nullable=False, index=index,
    )


instances = Table(
    "instances", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("plan", String(50), nullable=False),
    *_times("created_at", "modified_at"),
)
users = Table(
    "users", metadata,
    Column("id", String(36), primary_key=True),
    _owner(index=False),
    Column("username", String(200), nullable=False, unique=True),
    Column("password_hash", String(400), nullable=False),
    *_times("created_at"),
)
published_models = Table(
    "published_models", metadata,
    Column("id", String(36), primary_key=True),
    _owner(index=True),
    Column("name", String(400), nullable=False),
    Column("description", Text, nullable=False),
    Column("model_type", String(50), nullable=False),
    Column("latest_version_id", String(36), nullable=True),
    *_times("created_at", "modified_at"),
)
model_versions = Table(
    "model_versions", metadata,
    Column("id", String(36), primary_key=True),
    Column("model_id", String(36), ForeignKey("published_models.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("archive_name", String(200), nullable=False),
    Column("meta", JSON, nullable=False),
    *_times("created_at"),
)
deployments = Table(
    "deployments", metadata,
    Column("id", String(36), primary_key=True),
    _owner(index=True),
    Column("model_id", String(36), ForeignKey("published_models.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("version_id", String(36), nullable=False),
    Column("name", String(400), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("input", JSON, nullable=False),
    Column("output", JSON, nullable=False),
    Column("secrets", LargeBinary, nullable=False),
    Column("options", JSON, nullable=False),
    Column("progress", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    *_times("created_at", "modified_at"),
)
usage = Table(
    "usage", metadata,
    Column("deployment_id", String(36), primary_key=True),
    _owner(index=True),
    Column("predictions", Integer, nullable=False),
    Column("computation_s", Float, nullable=False),
)  # fmt: skip
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
INSTANCE, USER, MODEL, VERSION, DEPLOYMENT = (f"00000000-0000-4000-8000-00000000000{i}"
                                              for i in range(1, 6))
SECRETS = b"gAAAA-encrypted-connection-secrets"


def create_old_store(engine: Engine, password_hash: str) -> None:
    """The tables as create_all made them in 0.1.0, with one row of each kind."""
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(instances.insert(), [{
            "id": INSTANCE, "name": "research", "plan": "standard", "created_at": WHEN,
            "modified_at": WHEN}])
        connection.execute(users.insert(), [{
            "id": USER, "instance_id": INSTANCE, "username": "ana", "password_hash": password_hash,
            "created_at": WHEN}])
        connection.execute(published_models.insert(), [{
            "id": MODEL, "instance_id": INSTANCE, "name": "lenet", "description": "digits",
            "model_type": "caffe-1.0", "latest_version_id": VERSION, "created_at": WHEN,
            "modified_at": WHEN}])
        connection.execute(model_versions.insert(), [{
            "id": VERSION, "model_id": MODEL, "archive_name": "lenet.tar.gz",
            "meta": {"inputs": ["data"], "outputs": ["prob"]}, "created_at": WHEN}])
        connection.execute(deployments.insert(), [{
            "id": DEPLOYMENT, "instance_id": INSTANCE, "model_id": MODEL, "version_id": VERSION,
            "name": "nightly", "description": "", "status": "SUCCESS",
            "input": {"type": "local", "path": "/data/in"},
            "output": {"type": "local", "path": "/data/out"}, "secrets": SECRETS,
            "options": {"batch_size": 64}, "progress": {"scored": 10, "failed": 0}, "attempts": 1,
            "created_at": WHEN, "modified_at": WHEN}])
        connection.execute(usage.insert(), [{
            "deployment_id": DEPLOYMENT, "instance_id": INSTANCE, "predictions": 10,
            "computation_s": 0.5}])
