"""The service's tables (SQLAlchemy 2 declarative mapping).

Every resource belongs to an instance. Connection secrets are stored encrypted in
`Deployment.secrets` (see `caffebatch.service.crypto`); `input` and `output` hold the
connection specs with their secrets removed. Usage is kept per deployment in its own
table, so figures survive a deployment's deletion. Text that people type is refused when it
holds a NUL character, on every backend: PostgreSQL cannot store one, SQLite could.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from caffebatch.errors import InvalidRequestError


def new_id() -> str:
    """A fresh resource id (a UUID4 string, as the seed's guids)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Times stored in UTC and read back as aware datetimes (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def refuse_nul(*fields: str) -> Any:
    """A validator for these text fields: a NUL character is a bad request, not a crash."""

    @validates(*fields)
    def check(self: Any, field: str, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise InvalidRequestError(
                f"{field} must not contain NUL characters (\\x00)", code="invalid_text"
            )
        return value

    return check


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Instance(Base):
    """A tenant: its users, models, deployments and usage."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(50))
    _text = refuse_nul("name", "plan")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """A user of one instance; the password is kept only as a salted scrypt hash."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(400))
    _text = refuse_nul("username")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PublishedModel(Base):
    """A published model: metadata, and its versions once content is uploaded."""

    __tablename__ = "published_models"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text, default="")
    model_type: Mapped[str] = mapped_column(String(50))
    _text = refuse_nul("name", "description", "model_type")
    latest_version_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True
    )


class ModelVersion(Base):
    """One uploaded, validated and compiled package; files live in models/<id>/."""

    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(
        ForeignKey("published_models.id", ondelete="CASCADE"), index=True
    )
    archive_name: Mapped[str] = mapped_column(String(200))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[PublishedModel] = relationship(back_populates="versions")


class Deployment(Base):
    """A batch deployment: one run of a model version over an input location."""

    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(
        ForeignKey("published_models.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    _text = refuse_nul("name", "description")
    input: Mapped[dict[str, Any]] = mapped_column()
    output: Mapped[dict[str, Any]] = mapped_column()
    secrets: Mapped[bytes] = mapped_column(LargeBinary)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # the server running it (RUNNING only) and until when its claim holds: the server
    # renews it while the run lives; another server requeues the run once it has lapsed
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # a DELETE reached a server that does not run it: the running server stops the run and
    # releases the lease, then the row goes (`caffebatch.store.leases`)
    deleting: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Usage(Base):
    """What one deployment consumed, summed over all its attempts."""

    __tablename__ = "usage"

    deployment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    predictions: Mapped[int] = mapped_column(Integer, default=0)
    computation_s: Mapped[float] = mapped_column(Float, default=0.0)
