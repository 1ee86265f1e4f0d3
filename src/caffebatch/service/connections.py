"""Deployment connections: a spec's `input`/`output` blocks to stored blocks and Locations.

A block's secrets (`access_key`, `secret_key`) are split off to be stored encrypted; what
remains is stored as is (JSON) and shown with every connection field masked, as the seed
shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


# S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens, starting and
# ending with a letter or digit, no "..", not an IP address.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(
            f"{field} must be an http or https URL with a host (https://s3.example.com), "
            f"not {url!r}", code="invalid_url")


def _check_bucket(bucket: str, field: str) -> None:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP_ADDRESS.fullmatch(bucket):
        raise InvalidRequestError(
            f"{field} must be an S3 bucket name (3 to 63 lowercase letters, digits, dots and "
            f"hyphens, starting and ending with a letter or digit), not {bucket!r}",
            code="invalid_bucket")


def _check_prefix(prefix: str, field: str) -> None:
    segments = prefix.strip("/").split("/")
    if (_CONTROL.search(prefix) or len(prefix.encode()) > 1000
            or any(segment in ("", ".", "..") for segment in segments if prefix.strip("/"))):
        raise InvalidRequestError(
            f"{field} must be a key prefix of non-empty path segments, without '.', '..', "
            f"control characters, or more than 1000 bytes; not {prefix!r}",
            code="invalid_prefix")


def _s3(
    place: PlaceSpec, connection: ConnectionSpec, secrets: dict[str, str], settings: Settings,
    where: str,
) -> Location:
    side = "source" if where == "input" else "target"
    if not place.bucket:
        raise InvalidRequestError(f"{where}: a cloudobjectstorage connection needs a bucket")
    _check_bucket(place.bucket, f"{where}.{side}.bucket")
    if connection.url:
        _check_url(connection.url, f"{where}.connection.url")
    _check_prefix(place.prefix or "", f"{where}.{side}.prefix")
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
    side = "source" if where == "input" else "target"
    if not Path(place.path).is_absolute():  # not the server's working folder, whichever it is
        raise InvalidRequestError(
            f"{where}.{side}.path must be an absolute path, not {place.path!r}",
            code="relative_path")
    folder = Path(place.path)
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
