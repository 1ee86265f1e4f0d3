"""Deployment connections: a spec's `input`/`output` blocks to stored blocks and Locations.

A block's secrets (`access_key`, `secret_key`) are split off to be stored encrypted; what
remains is stored as is (JSON) and shown with every connection field masked, as the seed
shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from caffebatch.errors import InvalidRequestError
from caffebatch.jobs import Location
from caffebatch.service.crypto import MASK
from caffebatch.service.spec import SECRET_FIELDS, ConnectionSpec, InputSpec, OutputSpec, PlaceSpec
from caffebatch.settings import Settings

MASKED_FIELDS = ("access_key", "secret_key", "url")

Side = InputSpec | OutputSpec


def split_secrets(side: Side) -> tuple[dict[str, Any], dict[str, str]]:
    """(the block to store, without its secrets; the secrets) of one side of a spec."""
    block = side.model_dump(exclude_none=True)
    connection = dict(block.get("connection") or {})
    secrets = {k: str(connection[k]) for k in SECRET_FIELDS if connection.get(k) is not None}
    connection.update({k: MASK for k in secrets})
    return {**block, "connection": connection}, secrets


def masked(block: dict[str, Any]) -> dict[str, Any]:
    """The stored block as responses show it: every sent connection field as "*****"."""
    connection = dict(block.get("connection") or {})
    connection.update({k: MASK for k in MASKED_FIELDS if k in connection})
    return {**block, "connection": connection}


def _s3(
    place: PlaceSpec, connection: ConnectionSpec, secrets: dict[str, str], settings: Settings,
    where: str,
) -> Location:
    if not place.bucket:
        raise InvalidRequestError(f"{where}: a cloudobjectstorage connection needs a bucket")
    prefix = (place.prefix or "").strip("/")
    return Location(
        url=f"s3://{place.bucket}/{prefix}" if prefix else f"s3://{place.bucket}",
        endpoint_url=connection.url or None,
        access_key=secrets.get("access_key"),
        secret_key=secrets.get("secret_key"),
        region=connection.region or None,
    )


def _local(
    place: PlaceSpec, connection: ConnectionSpec, secrets: dict[str, str], settings: Settings,
    where: str,
) -> Location:
    if not place.path:
        raise InvalidRequestError(f"{where}: a local connection needs a path")
    if "\0" in place.path or "\0" in (place.prefix or ""):
        raise InvalidRequestError(f"{where}: a local path may not contain a NUL character")
    folder = Path(place.path).expanduser()
    if place.prefix:
        folder = folder / place.prefix.strip("/")
    folder = folder.resolve()
    if not any(folder.is_relative_to(root) for root in settings.local_roots):
        allowed = ", ".join(str(r) for r in settings.local_roots) or "none (CAFFEBATCH_LOCAL_ROOTS)"
        raise InvalidRequestError(
            f"{where}: local path {str(folder)!r} is outside the allowed folders: {allowed}",
            code="local_path_not_allowed",
        )
    return Location(url=str(folder))


LOCATIONS: dict[
    str, Callable[[PlaceSpec, ConnectionSpec, dict[str, str], Settings, str], Location]
] = {
    "cloudobjectstorage": _s3,
    "s3": _s3,
    "local": _local,
}


def location(side: Side, secrets: dict[str, str], settings: Settings) -> Location:
    """The Location one side of a spec and its secrets describe."""
    where, place = ("input", side.source) if isinstance(side, InputSpec) else ("output", side.target)
    build = LOCATIONS.get(side.type)
    if build is None:
        raise InvalidRequestError(
            f"{where}.type must be one of {sorted(LOCATIONS)}, not {side.type!r}",
            code="unsupported_connection",
        )
    return build(place, side.connection, secrets, settings, where)
