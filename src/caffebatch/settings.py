"""The service's one typed settings object.

Every field can be set with a ``CAFFEBATCH_<FIELD>`` environment variable (for example
``CAFFEBATCH_HOME``, ``CAFFEBATCH_DATABASE_URL``, ``CAFFEBATCH_MAX_CONCURRENT_RUNS``).
Settings are built by the command line or a test and passed in; nothing reads them at
import time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from caffebatch.errors import CaffebatchError

SECRET_FILE = "secret.key"


class Settings(BaseSettings):
    """Where the service keeps its data, who may use it and how much."""

    model_config = SettingsConfigDict(env_prefix="CAFFEBATCH_", extra="ignore")

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
    max_concurrent_runs: int = 2
    poll_interval_s: float = 0.5
    progress_interval_s: float = 1.0
    cancel_wait_s: float = 5.0

    # where runs execute: "local" (threads in this process) or "ray" (pip install 'caffebatch[ray]')
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default: a local Ray.",
    )
    ray_num_cpus: int | None = None  # CPUs of a local Ray; default: every core
    ray_object_store_mib: int = 256
    ray_actors: int | None = None  # scoring actors; default: one per GPU, else one per actor's CPUs
    ray_cpus_per_actor: float = 1.0

    # the backend runs score on: "auto" measures the installed ones once per published model
    # and keeps the fastest that matches ONNX Runtime; or "onnxruntime" / "openvino" outright
    engine: str = "auto"

    # the plan every instance gets; its limits are enforced
    plan: str = "standard"
    max_models: int = 1000
    max_deployments: int = 100
    max_predictions: int = 100_000_000
    max_computation_s: int = 3_600_000
    max_gpus: int = 0

    # uploads of model packages: the archive, what it unpacks to, how many files
    max_package_bytes: int = 512 * 1024 * 1024
    max_unpacked_bytes: int = 2 * 1024**3
    max_package_files: int = 1000

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from caffebatch.runtime.backends import engine_names

        if value not in engine_names():
            raise ValueError(f"expected one of {engine_names()}, got {value!r}")
        return value

    @field_validator("local_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(":") if part]
        return [Path(root).expanduser().resolve() for root in value]  # type: ignore[union-attr]

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
