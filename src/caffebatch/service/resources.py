"""What the service hands the API and the dashboard: frozen values read from the store's rows.

The rows stay inside `service/`; a page or a response renders these, so neither needs the
store's tables, and nothing it holds can write back to the database by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from caffebatch.jobs import StatusDetails
from caffebatch.service.connections import masked
from caffebatch.service.spec import RunChoices
from caffebatch.store.states import ACTIVE, DeploymentStatus
from caffebatch.store.tables import Deployment, Instance, ModelVersion, PublishedModel, User

# The status vocabulary the API and the dashboard show, from the rooms that define it.
__all__ = ["ACTIVE", "DeploymentInfo", "DeploymentStatus", "InstanceInfo", "ModelInfo",
           "StatusDetails", "UserInfo", "VersionInfo"]


@dataclass(frozen=True)
class InstanceInfo:
    """A tenant."""

    id: str
    name: str
    plan: str
    created_at: datetime
    modified_at: datetime

    @classmethod
    def of(cls, row: Instance) -> InstanceInfo:
        return cls(row.id, row.name, row.plan, row.created_at, row.modified_at)


@dataclass(frozen=True)
class UserInfo:
    """A user of an instance (never its password hash)."""

    id: str
    instance_id: str
    username: str

    @classmethod
    def of(cls, row: User) -> UserInfo:
        return cls(row.id, row.instance_id, row.username)


@dataclass(frozen=True)
class VersionInfo:
    """One published, compiled package of a model; `meta` is what publishing found in it."""

    id: str
    model_id: str
    archive_name: str
    meta: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: ModelVersion) -> VersionInfo:
        return cls(row.id, row.model_id, row.archive_name, dict(row.meta), row.created_at)


@dataclass(frozen=True)
class ModelInfo:
    """A published model and its versions, newest first."""

    id: str
    instance_id: str
    name: str
    description: str
    model_type: str
    latest_version_id: str | None
    created_at: datetime
    modified_at: datetime
    versions: tuple[VersionInfo, ...]

    @property
    def latest(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.id == self.latest_version_id), None)

    @classmethod
    def of(cls, row: PublishedModel) -> ModelInfo:
        versions = sorted(row.versions, key=lambda v: v.created_at, reverse=True)
        return cls(
            row.id, row.instance_id, row.name, row.description, row.model_type,
            row.latest_version_id, row.created_at, row.modified_at,
            tuple(VersionInfo.of(v) for v in versions),
        )


@dataclass(frozen=True)
class DeploymentInfo:
    """A deployment as shown: its connections masked, its run choices, its stored progress."""

    id: str
    instance_id: str
    model_id: str
    version_id: str
    name: str
    description: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any]
    options: RunChoices
    progress: dict[str, Any]
    created_at: datetime
    modified_at: datetime

    @classmethod
    def of(cls, row: Deployment) -> DeploymentInfo:
        return cls(
            row.id, row.instance_id, row.model_id, row.version_id, row.name, row.description,
            row.status, masked(row.input), masked(row.output),
            RunChoices.model_validate(row.options or {}), dict(row.progress or {}),
            row.created_at, row.modified_at,
        )
