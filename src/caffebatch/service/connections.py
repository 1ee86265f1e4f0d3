"""Deployment connections: the request's `input`/`output` blocks to stored specs and Locations.

A connection block is `{"type", "source" | "target": {...}, "connection": {...}}`. Its
secrets (`access_key`, `secret_key`) are split off to be stored encrypted; what remains is
stored as is and shown with every connection field masked, as the seed shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from caffebatch.errors import InvalidRequestError
from caffebatch.jobs import Location
from caffebatch.service.crypto import MASK
from caffebatch.settings import Settings

SECRET_FIELDS = ("access_key", "secret_key")
MASKED_FIELDS = ("access_key", "secret_key", "url")


def split_secrets(block: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the block without secrets, the secrets) of one connection block."""
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
    side: dict[str, Any],
    connection: dict[str, Any],
    secrets: dict[str, str],
    settings: Settings,
    where: str,
) -> Location:
    bucket = side.get("bucket")
    if not bucket:
        raise InvalidRequestError(f"{where}: a cloudobjectstorage connection needs a bucket")
    prefix = (side.get("prefix") or "").strip("/")
    return Location(
        url=f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
        endpoint_url=connection.get("url") or None,
        access_key=secrets.get("access_key"),
        secret_key=secrets.get("secret_key"),
        region=connection.get("region") or None,
    )


def _local(
    side: dict[str, Any],
    connection: dict[str, Any],
    secrets: dict[str, str],
    settings: Settings,
    where: str,
) -> Location:
    path = side.get("path")
    if not path:
        raise InvalidRequestError(f"{where}: a local connection needs a path")
    if "\0" in str(path) or "\0" in str(side.get("prefix") or ""):
        raise InvalidRequestError(f"{where}: a local path may not contain a NUL character")
    folder = Path(path).expanduser()
    if side.get("prefix"):
        folder = folder / str(side["prefix"]).strip("/")
    folder = folder.resolve()
    if not any(folder.is_relative_to(root) for root in settings.local_roots):
        allowed = ", ".join(str(r) for r in settings.local_roots) or "none (CAFFEBATCH_LOCAL_ROOTS)"
        raise InvalidRequestError(
            f"{where}: local path {str(folder)!r} is outside the allowed folders: {allowed}",
            code="local_path_not_allowed",
        )
    return Location(url=str(folder))


LOCATIONS: dict[str, Callable[..., Location]] = {
    "cloudobjectstorage": _s3,
    "s3": _s3,
    "local": _local,
}


def location(
    block: dict[str, Any], secrets: dict[str, str], settings: Settings, side: str
) -> Location:
    """The Location a stored block and its secrets describe; `side` is "source" or "target"."""
    where = "input" if side == "source" else "output"
    kind = block.get("type")
    build = LOCATIONS.get(kind or "")
    if build is None:
        raise InvalidRequestError(
            f"{where}.type must be one of {sorted(LOCATIONS)}, not {kind!r}",
            code="unsupported_connection",
        )
    return build(block.get(side) or {}, block.get("connection") or {}, secrets, settings, where)
