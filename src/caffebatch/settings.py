"""The service's one typed settings object, and the Ray settings it shares with the CLI.

Every field can be set with a ``CAFFEBATCH_<FIELD>`` environment variable (for example
``CAFFEBATCH_HOME``, ``CAFFEBATCH_DATABASE_URL``, ``CAFFEBATCH_MAX_CONCURRENT_RUNS``); a
nested group's fields with ``CAFFEBATCH_<GROUP>_<FIELD>`` (``CAFFEBATCH_RAY_ADDRESS``,
``CAFFEBATCH_PACKAGES_MAX_FILES``). The package limits keep the names they had before they
were grouped (``CAFFEBATCH_MAX_PACKAGE_BYTES``, see `LEGACY_ENV`). Settings are built by the
command line or a test and passed in; nothing reads them at import time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from caffebatch.errors import CaffebatchError
from caffebatch.package import PackageLimits

SECRET_FILE = "secret.key"

# environment variables named before their fields were grouped -> (group, field) now
LEGACY_ENV: dict[str, tuple[str, str]] = {
    "CAFFEBATCH_MAX_PACKAGE_BYTES": ("packages", "max_archive_bytes"),
    "CAFFEBATCH_MAX_UNPACKED_BYTES": ("packages", "max_unpacked_bytes"),
    "CAFFEBATCH_MAX_PACKAGE_FILES": ("packages", "max_files"),
}


class RaySettings(BaseModel):
    """Where and how big: the cluster to join, or the local Ray to start, and the actor pool.

    The one definition of the Ray executor's settings: the service reads them from
    ``CAFFEBATCH_RAY_*``, `caffebatch score` builds them from its ``--ray-*`` flags (whose help
    is these descriptions), and `caffebatch.jobs.executors.ray` runs with them.
    """

    model_config = ConfigDict(frozen=True)

    address: str | None = Field(
        default=None,
        description="Ray cluster to join: auto, HOST:6379 or ray://HOST:10001 "
        "[default: start a local Ray].",
    )
    num_cpus: int | None = Field(
        default=None, ge=1, description="CPUs of a local Ray [default: every core]."
    )
    # Ray's default is 30% of the memory and its minimum 75 MiB; a run puts little in it:
    # the model once, and small outcomes
    object_store_mib: int = Field(
        default=256, ge=75, description="Object store of a local Ray, in MiB."
    )
    actors: int | None = Field(
        default=None,
        ge=1,
        description="Scoring actors [default: one per GPU, else one per actor's CPUs].",
    )
    cpus_per_actor: float = Field(
        default=1.0, ge=0.1, description="CPUs each actor reserves (and its ONNX Runtime threads)."
    )
    gpus_per_actor: float | None = Field(
        default=None, ge=0, description="GPUs each actor reserves [default: 1 with GPUs, else 0]."
    )
    batches_per_task: int = Field(default=1, ge=1, description="Forward passes per actor call.")
    tasks_per_actor: int = Field(
        default=3, ge=1, description="Calls in flight per actor (two run, one waits)."
    )
    start_timeout_s: float = Field(
        default=120.0, gt=0, description="How long actors may take to load the model."
    )


class Settings(BaseSettings):
    """Where the service keeps its data, who may use it and how much."""

    # CAFFEBATCH_RAY_NUM_CPUS -> ray.num_cpus: split once, at the group's name
    model_config = SettingsConfigDict(
        env_prefix="CAFFEBATCH_", extra="ignore", env_nested_delimiter="_", env_nested_max_split=1
    )

    home: Path = Field(default_factory=lambda: Path.home() / ".caffebatch")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in `home`."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens and encrypts connection secrets; generated once into "
        "`home`/secret.key when not set.",
    )
    admin_user: str = "admin"
    admin_password: SecretStr | None = None

    # folders that `local` connections may read and write (a ':'-separated list in the env)
    local_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    token_lifetime_s: int = 3600
    password_scrypt_n: int = Field(
        default=2**17,
        description="scrypt's cost N for password hashes: a power of two, at least 2**14 "
        "(OWASP's minimum is 2**17, the default; 128 MiB per hash). A stored hash of lower "
        "cost is rehashed at the user's next sign-in.",
    )
    public_url: str | None = Field(
        default=None,
        description="The address users reach the server at (https://caffebatch.example.com), "
        "behind a proxy that terminates TLS.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Send the dashboard's cookies only over HTTPS; default: on when "
        "`public_url` is https.",
    )
    max_concurrent_runs: int = 2
    poll_interval_s: float = 0.5
    progress_interval_s: float = 1.0
    cancel_wait_s: float = 30.0  # how long a DELETE waits for a run to end (its writes)
    storage_outage_s: float = 60.0  # how long a run's storage call retries through an outage
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a server's claim on a run holds unless renewed (it renews it "
        "every third of this): a run whose server died is taken over by another server, or "
        "by the restarted one, this long after its last renewal.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per line, uvicorn's lines too, each with the "
        "request's id while a request is served.",
    )
    max_inflight_mib: int = Field(
        default=512,
        ge=1,
        description="What the records in flight of one run may weigh, in MiB (their text while "
        "decoded, then their arrays; RunOptions.max_inflight_bytes). Each concurrent run has its "
        "own; the model and its scorer come on top.",
    )

    # where runs execute: "local" (threads in this process) or "ray" (pip install 'caffebatch[ray]')
    executor: Literal["local", "ray"] = "local"
    ray: RaySettings = Field(default_factory=RaySettings)

    # the backend runs score on: "auto" measures the installed ones once per published model
    # and keeps the fastest that matches ONNX Runtime; or "onnxruntime" / "openvino" outright
    engine: str = "auto"
    # "bf16" (opt-in, never the default): faster on CPUs with AMX or AVX512-BF16, on a
    # backend that offers it (OpenVINO), but not Caffe's numerics; its measured deviation
    # from f32 is logged and saved with each model
    precision: str = "f32"

    # the plan every instance gets; its limits are enforced
    plan: str = "standard"
    max_models: int = 1000
    max_deployments: int = 100
    max_predictions: int = 100_000_000
    max_computation_s: int = 3_600_000
    max_gpus: int = 0

    # uploads of model packages: the archive, what it unpacks to, how many files
    packages: PackageLimits = Field(default_factory=PackageLimits)

    # an image input larger than this (height x width) is refused as too_many_pixels
    max_image_pixels: int = 40_000_000
    # a .jsonl input larger than this is too_large; one with more records is too_many_lines
    max_jsonl_bytes: int = 64 * 1024 * 1024
    max_jsonl_lines: int = 100_000

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        legacy = LegacyEnvSource(settings_cls)
        return init_settings, env_settings, legacy, dotenv_settings, file_secret_settings

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from caffebatch.runtime.backends import engine_names

        if value not in engine_names():
            raise ValueError(f"expected one of {engine_names()}, got {value!r}")
        return value

    @field_validator("precision")
    @classmethod
    def _usable_precision(cls, value: str) -> str:
        from caffebatch.runtime.backends import BF16, F32, cpu_has_bf16

        if value not in (F32, BF16):
            raise ValueError(f"expected {F32!r} or {BF16!r}, got {value!r}")
        if value == BF16 and not cpu_has_bf16():
            raise ValueError("'bf16' needs a CPU with AMX or AVX512-BF16; this one has neither")
        return value

    @field_validator("local_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(":") if part]
        return [Path(root).expanduser().resolve() for root in cast("list[str]", value)]

    @field_validator("password_scrypt_n")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value < 2**14 or value & (value - 1):
            raise ValueError(f"must be a power of two of at least 2**14 (16384), not {value}")
        return value

    @property
    def secure_cookies(self) -> bool:
        """Whether the dashboard's cookies carry the Secure flag."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return (self.public_url or "").lower().startswith("https://")

    @property
    def db_url(self) -> str:
        """The database URL in force: the setting, or SQLite in the home folder."""
        return self.database_url or f"sqlite:///{self.home / 'caffebatch.db'}"

    @property
    def models_dir(self) -> Path:
        """Where published model versions live, one folder per version id."""
        return self.home / "models"

    def signing_secret(self) -> bytes:
        """The service secret: the setting, else the one stored in `home` (made once)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.home / SECRET_FILE
        if not path.exists():
            _create_secret(path)
        secret = path.read_text().strip()
        if not secret:
            raise CaffebatchError(
                f"{path} is empty; expected the service secret (delete the file to make a new one)"
            )
        return secret.encode()


class LegacyEnvSource(PydanticBaseSettingsSource):
    """The `LEGACY_ENV` variables, as the grouped fields they now set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the table

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, (group, field) in LEGACY_ENV.items():
            value = os.environ.get(name)
            if value is not None:
                found.setdefault(group, {})[field] = value
        return found


def _create_secret(path: Path) -> None:
    """Write a new random secret to `path` whole, unless another process made one first.

    The secret goes to a private temporary file that is then linked into place: a crash
    never leaves an empty secret.key behind (signing with an empty key), and two servers
    starting at once agree on the first one's secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
