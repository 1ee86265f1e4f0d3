"""Request and response bodies, in the seed's (WML v3) shapes: `metadata` + `entity`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from caffebatch.service.spec import (
    BatchSize,
    DeploymentSpec,
    ErrorRatio,
    InputSpec,
    OutputSpec,
    RunChoices,
)

if TYPE_CHECKING:
    from caffebatch.service import resources


class ErrorItem(BaseModel):
    code: str
    message: str


class ErrorPublic(BaseModel):
    trace: str
    errors: list[ErrorItem]


class TokenPublic(BaseModel):
    token: str
    instance_id: str
    expires_at: int = Field(description="Unix time after which the token is refused")


class Metadata(BaseModel):
    guid: str
    url: str
    created_at: datetime
    modified_at: datetime


class Link(BaseModel):
    url: str


class Figure(BaseModel):
    limit: int
    current: int


class UsagePublic(BaseModel):
    computation_time: Figure
    model_count: Figure
    prediction_count: Figure
    gpu_count: Figure
    capacity_units: Figure
    deployment_count: Figure


class InstanceEntity(BaseModel):
    source: str
    name: str
    status: str
    plan: str
    plan_id: str
    published_models: Link
    deployments: Link
    usage: UsagePublic


class InstancePublic(BaseModel):
    metadata: Metadata
    entity: InstanceEntity


class PublishedModelCreate(BaseModel):
    """Metadata of a new model; its content is uploaded with PUT .../content."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=400)
    description: str = Field(default="", max_length=10_000)
    model_type: str = Field(default="caffe-1.0", max_length=50)


class VersionRef(BaseModel):
    url: str
    guid: str
    created_at: datetime


class DeploymentsRef(BaseModel):
    count: int
    url: str


class PublishedModelEntity(BaseModel):
    name: str
    description: str
    model_type: str
    runtime_environment: str
    latest_version: VersionRef | None
    deployments: DeploymentsRef
    input_layers: list[str] | None = None
    output_layers: list[str] | None = None


class PublishedModelPublic(BaseModel):
    metadata: Metadata
    entity: PublishedModelEntity


class PublishedModelList(BaseModel):
    limit: int
    count: int
    resources: list[PublishedModelPublic]
    first: Link
    next: Link | None = None


class InputCreate(InputSpec):
    """Where the run reads: the seed's `input` block (`caffebatch.service.spec.InputSpec`)."""


class OutputCreate(OutputSpec):
    """Where the run writes: the seed's `output` block (`caffebatch.service.spec.OutputSpec`)."""


class DeploymentCreate(BaseModel):
    """The seed's body, plus the optional `batch_size` and `max_error_ratio`."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(default="", max_length=400)
    type: Literal["batch"] = "batch"
    description: str = Field(default="", max_length=10_000)
    input: InputCreate
    output: OutputCreate
    batch_size: BatchSize | None = None
    max_error_ratio: ErrorRatio | None = None

    def to_spec(self) -> DeploymentSpec:
        """The service's spec of this body."""
        return DeploymentSpec(
            name=self.name,
            description=self.description,
            input=self.input,
            output=self.output,
            options=RunChoices(batch_size=self.batch_size, max_error_ratio=self.max_error_ratio),
        )


class ModelRef(BaseModel):
    name: str
    url: str
    guid: str
    description: str
    created_at: datetime


class DeployedVersion(BaseModel):
    url: str
    guid: str


class StatusDetails(BaseModel):
    """A deployment's status details as the API shows them (`from_details`)."""

    model_config = ConfigDict(extra="allow")

    status: str
    total: int | None = None
    scored: int | None = None
    failed: int | None = None
    skipped: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    records_per_second: float | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    failure: ErrorItem | None = None

    @classmethod
    def from_details(cls, details: resources.StatusDetails) -> StatusDetails:
        """The schema of the status details jobs made (`seconds`, `batch_size` ride along)."""
        return cls.model_validate(details.to_json())


class DeploymentEntity(BaseModel):
    runtime_environment: str
    name: str
    description: str
    type: str
    model_type: str
    status: str
    status_details: StatusDetails
    published_model: ModelRef
    deployed_version: DeployedVersion
    input: dict[str, Any]
    output: dict[str, Any]
    batch_size: int | None = None
    max_error_ratio: float | None = None


class DeploymentPublic(BaseModel):
    metadata: Metadata
    entity: DeploymentEntity


class DeploymentList(BaseModel):
    count: int
    resources: list[DeploymentPublic]


class VersionEntity(BaseModel):
    model: Link
    content: Link
    archive_name: str
    input_layers: list[str]
    output_layers: list[str]
    inputs: dict[str, list[int]]
    outputs: list[str]


class VersionPublic(BaseModel):
    metadata: Metadata
    entity: VersionEntity


# every route may answer with these, in the error body
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic} for status in (400, 401, 403, 404, 409, 413, 429)
}
