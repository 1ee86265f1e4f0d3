"""Request and response bodies, in the seed's (WML v3) shapes: `metadata` + `entity`.

Every time in an answer is a `Timestamp`, written as the seed writes them:
``2018-03-14T07:23:04.749Z`` (UTC, milliseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from caffebatch.inputs import TransformSpec
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


def seed_time(moment: datetime) -> str:
    """`moment` in the seed's form, ``2018-03-14T07:23:04.749Z``; a naive time is UTC."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


Timestamp = Annotated[datetime, PlainSerializer(seed_time, return_type=str)]


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


class TokenRefresh(BaseModel):
    """The v3 client's refresh body: the still-valid token, sent without an Authorization header."""

    token: str = Field(min_length=1, max_length=10_000)


class Metadata(BaseModel):
    guid: str
    url: str
    created_at: Timestamp
    modified_at: Timestamp


class Link(BaseModel):
    url: str


class Figure(BaseModel):
    limit: int
    current: int


class UsagePublic(BaseModel):
    expiration_date: Timestamp | None = Field(
        description="When the plan's figures reset; caffebatch plans never do (null)"
    )
    computation_time: Figure
    model_count: Figure
    prediction_count: Figure
    gpu_count: Figure
    capacity_units: Figure
    deployment_count: Figure


class Account(BaseModel):
    id: str
    name: str
    type: str


class Owner(BaseModel):
    user_id: str
    ibm_id: str = Field(description="The owner's user name (the seed's IBMid login)")
    email: str | None
    country_code: str | None
    beta_user: bool


class InstanceEntity(BaseModel):
    source: str
    name: str
    status: str
    plan: str
    plan_id: str = Field(description="A UUID naming the plan (the same for every instance on it)")
    organization_guid: str
    space_guid: str
    region: str
    account: Account
    owner: Owner | None
    published_models: Link
    deployments: Link
    usage: UsagePublic


class InstancePublic(BaseModel):
    metadata: Metadata
    entity: InstanceEntity


class Framework(BaseModel):
    """The v3 client's way to say the model type: ``{"name": "caffe", "version": "1.0"}``."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=30)
    version: str = Field(min_length=1, max_length=19)


class PublishedModelCreate(BaseModel):
    """Metadata of a new model (the seed's `model_type`, or the v3 client's `framework`);
    its content is uploaded to the answer's `entity.model_version.content_url`."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=400)
    description: str = Field(default="", max_length=10_000)
    model_type: str | None = Field(default=None, max_length=50)
    framework: Framework | None = None

    def chosen_type(self) -> str:
        """`model_type`, else `framework` as ``name-version``, else ``caffe-1.0``."""
        if self.model_type is not None:
            return self.model_type
        if self.framework is not None:
            return f"{self.framework.name}-{self.framework.version}"
        return "caffe-1.0"


class VersionRef(BaseModel):
    url: str
    guid: str
    created_at: Timestamp


class VersionSlot(BaseModel):
    """Where the next upload goes: PUT the package to `content_url` and it becomes version
    `guid` (at `url`, which answers 404 until then)."""

    guid: str
    url: str
    content_url: str


class DeploymentsRef(BaseModel):
    count: int
    url: str


class PublishedModelEntity(BaseModel):
    name: str
    description: str
    model_type: str
    runtime_environment: str
    label_col: str = Field(description="Always empty: a Caffe model scores, it has no label")
    latest_version: VersionRef | None
    deployments: DeploymentsRef
    learning_configuration_url: str
    learning_iterations_url: str
    feedback_url: str
    evaluation_metrics_url: str
    input_layers: list[str] | None = None
    output_layers: list[str] | None = None
    model_version: VersionSlot | None = Field(
        default=None, description="On the answer to a create: where to upload the content"
    )


class PublishedModelPublic(BaseModel):
    metadata: Metadata
    entity: PublishedModelEntity


class PublishedModelList(BaseModel):
    limit: int
    count: int
    resources: list[PublishedModelPublic]
    first: Link
    next: Link | None = Field(default=None, description="Absent on the last page")

    @model_serializer(mode="wrap")
    def _without_last_next(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # the v3 client follows `next` whenever the key is there, even as null
        document: dict[str, Any] = handler(self)
        if document.get("next") is None:
            document.pop("next", None)
        return document


class EmptyList(BaseModel):
    """What caffebatch keeps of a model's training history and feedback: nothing."""

    count: Literal[0] = 0
    resources: list[dict[str, Any]] = Field(default_factory=list, max_length=0)


class JsonPatchOperation(BaseModel):
    """One RFC 6902 operation; a model takes ``replace`` of ``/deployed_version/url``."""

    op: Literal["replace", "add"]
    path: str = Field(max_length=200)
    value: Any = None


class InputCreate(InputSpec):
    """Where the run reads: the seed's `input` block (`caffebatch.service.spec.InputSpec`)."""


class OutputCreate(OutputSpec):
    """Where the run writes: the seed's `output` block (`caffebatch.service.spec.OutputSpec`)."""


class DeploymentCreate(BaseModel):
    """The seed's body, plus the optional `batch_size`, `max_error_ratio` and `transform`."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(default="", max_length=400)
    type: Literal["batch"] = "batch"
    description: str = Field(default="", max_length=10_000)
    input: InputCreate
    output: OutputCreate
    batch_size: BatchSize | None = None
    max_error_ratio: ErrorRatio | None = None
    transform: dict[str, TransformSpec] | None = Field(
        default=None, max_length=16,
        description="Image transforms by input layer (deployment-meta.json's fields), "
                    "replacing the model's")

    def to_spec(self) -> DeploymentSpec:
        """The service's spec of this body."""
        return DeploymentSpec(
            name=self.name,
            description=self.description,
            input=self.input,
            output=self.output,
            options=RunChoices(batch_size=self.batch_size, max_error_ratio=self.max_error_ratio,
                               transform=self.transform),
        )


class ModelRef(BaseModel):
    name: str
    url: str
    guid: str
    description: str
    created_at: Timestamp


class DeployableAsset(BaseModel):
    """What the deployment runs (the v3 client's name for the published model)."""

    type: Literal["model"] = "model"
    name: str
    url: str
    guid: str
    created_at: Timestamp


class DeployedVersion(BaseModel):
    url: str
    guid: str


class Failure(ErrorItem):
    """Why a run failed; `errors` holds the same as a list, where the v3 client reads it."""

    errors: list[ErrorItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _listed(self) -> Failure:
        if not self.errors:
            self.errors = [ErrorItem(code=self.code, message=self.message)]
        return self


class StatusDetails(BaseModel):
    """A deployment's status details as the API shows them (`from_details`)."""

    model_config = ConfigDict(extra="allow")

    status: str
    total: int | None = None
    scored: int | None = None
    failed: int | None = None
    skipped: int | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    records_per_second: float | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    failure: Failure | None = None

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
    status_message: str | None = Field(description="Why the run failed, when it did")
    status_details: StatusDetails
    published_model: ModelRef
    deployable_asset: DeployableAsset
    deployed_version: DeployedVersion
    input: dict[str, Any]
    output: dict[str, Any]
    batch_size: int | None = None
    max_error_ratio: float | None = None
    transform: dict[str, dict[str, Any]] | None = Field(
        default=None, description="The deployment's own image transforms, when it gave any")


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


class SlotRef(BaseModel):
    guid: str
    url: str


class VersionCreatedEntity(BaseModel):
    model: Link
    model_version: VersionSlot


class VersionCreated(BaseModel):
    """A version to be: it exists once its package is PUT to `model_version.content_url`."""

    metadata: SlotRef
    entity: VersionCreatedEntity

    @classmethod
    def of(cls, slot: VersionSlot, model_url: str) -> VersionCreated:
        return cls(
            metadata=SlotRef(guid=slot.guid, url=slot.url),
            entity=VersionCreatedEntity(model=Link(url=model_url), model_version=slot),
        )


# every route may answer with these, in the error body
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic} for status in (400, 401, 403, 404, 409, 413, 429)
}
