"""A deployment's spec, the one typed value across the service boundary.

The API builds it from the seed's request body and the dashboard from its form; the
service stores it (the connection blocks, secrets split off, in `Deployment.input` and
`output`; the run options in `Deployment.options`, all JSON) and loads it back to run.
A block is `{"type", "source" | "target": {...}, "connection": {...}}`; its secrets
(`access_key`, `secret_key`) are write-only and stored encrypted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from caffebatch.inputs import TransformSpec

if TYPE_CHECKING:
    from caffebatch.jobs import RunOptions

ConnectionType = Literal["cloudobjectstorage", "s3", "local"]
SECRET_FIELDS = ("access_key", "secret_key")
BatchSize = Annotated[int, Field(ge=1, le=65536)]
ErrorRatio = Annotated[float, Field(ge=0.0, le=1.0)]


class ConnectionSpec(BaseModel):
    """Where a bucket lives; `access_key` and `secret_key` are write-only."""

    model_config = ConfigDict(extra="forbid")

    access_key: str | None = Field(default=None, max_length=1000)
    secret_key: str | None = Field(default=None, max_length=1000)
    url: str | None = Field(default=None, max_length=2000, description="the S3 endpoint")
    region: str | None = Field(default=None, max_length=100)


class PlaceSpec(BaseModel):
    """A bucket (cloudobjectstorage) or a folder (local), with an optional key prefix."""

    model_config = ConfigDict(extra="forbid")

    bucket: str | None = Field(default=None, max_length=255)
    prefix: str | None = Field(default=None, max_length=1000)
    path: str | None = Field(default=None, max_length=4000)


class InputSpec(BaseModel):
    type: ConnectionType
    source: PlaceSpec
    connection: ConnectionSpec = Field(default_factory=ConnectionSpec)


class OutputSpec(BaseModel):
    type: ConnectionType
    target: PlaceSpec
    connection: ConnectionSpec = Field(default_factory=ConnectionSpec)


class RunChoices(BaseModel):
    """What a deployment may choose of its run; unset takes the run's default.

    A stored row may hold a choice this version does not know (written by a newer one): it
    is kept and reaches RunOptions, which refuses it, so such a run fails instead of
    running with the choice silently dropped.
    """

    model_config = ConfigDict(extra="allow")

    batch_size: BatchSize | None = None
    max_error_ratio: ErrorRatio | None = None
    transform: dict[str, TransformSpec] | None = Field(
        default=None, max_length=16,
        description="image transforms by input layer, over the model's deployment-meta.json")

    def stored(self) -> dict[str, Any]:
        """The `Deployment.options` column: the choices made, no more."""
        return self.model_dump(mode="json", exclude_none=True)

    def run_options(
        self,
        run_id: str,
        model_name: str | None,
        progress_interval_s: float,
        max_inflight_bytes: int | None = None,
    ) -> RunOptions:
        """The run's options: these choices over the run's defaults, with the server's
        byte budget for records in flight (None: the run's default)."""
        from caffebatch.jobs import RunOptions  # the engine loads when a run needs it

        # the transform changes the model's inputs, not the run: see service/transforms.py
        chosen = {k: v for k, v in self.stored().items() if k != "transform"}
        if max_inflight_bytes is not None:  # the server's memory, not the deployment's choice
            chosen["max_inflight_bytes"] = max_inflight_bytes
        return RunOptions(
            run_id=run_id,
            model_name=model_name,
            progress_interval_s=progress_interval_s,
            **chosen,
        )

    @property
    def error_ratio_in_force(self) -> float:
        """The threshold a run uses: the choice, else the run's default."""
        return self.run_options("", None, 0.0).max_error_ratio


class DeploymentSpec(BaseModel):
    """A batch deployment: its name, where it reads and writes, and how it runs."""

    name: str = Field(default="", max_length=400)
    description: str = Field(default="", max_length=10_000)
    input: InputSpec
    output: OutputSpec
    options: RunChoices = Field(default_factory=RunChoices)
