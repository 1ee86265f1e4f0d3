"""One small interface over the places a run reads and writes: local folders and S3 buckets.

A `Storage` lists the objects directly under its location in sorted key order (streamed,
page by page), reads one object, and writes one object atomically. Foreign errors are
translated into `StorageError` subclasses inside each backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from caffebatch.jobs.spec import Location, RetryPolicy


@dataclass(frozen=True)
class Entry:
    """One listed object. `size` is None where the listing does not know it cheaply."""

    key: str
    size: int | None = None


class Storage(Protocol):
    """What a run needs of a location."""

    remote: bool  # requests are slow: fetch one object per task, many at once

    def list(self) -> Iterator[Entry]:
        """The objects directly under the location, in sorted key order, streamed."""
        ...

    def get(self, key: str, limit: int) -> bytes:
        """The object's bytes; at most `limit` + 1 of them, so an oversized one shows."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write the object so that a reader sees all of it or nothing."""
        ...

    def prepare(self) -> None:
        """Get ready to be written to (create the folder, clear temporary files of a killed run)."""
        ...

    def close(self) -> None:
        """Let go of connections; the storage is not used after. Safe to call again."""
        ...


def open_storage(location: Location, retry: RetryPolicy, *, connections: int = 16) -> Storage:
    """The storage of a location: ``s3://bucket[/prefix]`` or a local folder path."""
    if location.is_s3:
        from caffebatch.extras import require

        require("s3", f"reading and writing {location.url}")
        from caffebatch.jobs.storage.s3 import S3Storage  # boto3 loads only when used

        return S3Storage(location, retry, connections=connections)
    from caffebatch.jobs.storage.local import LocalStorage

    return LocalStorage(location.url)


def overlaps(a: Location, b: Location) -> bool:
    """Whether two locations are the same place, or one lies inside the other."""
    if a.is_s3 != b.is_s3:
        return False
    if a.is_s3:
        if (a.endpoint_url or "") != (b.endpoint_url or ""):
            return False
        first, second = _s3_path(a.url), _s3_path(b.url)
    else:
        from pathlib import Path

        first = str(Path(a.url).resolve()).rstrip("/") + "/"
        second = str(Path(b.url).resolve()).rstrip("/") + "/"
    return first.startswith(second) or second.startswith(first)


def _s3_path(url: str) -> str:
    return url.removeprefix("s3://").strip("/") + "/"
