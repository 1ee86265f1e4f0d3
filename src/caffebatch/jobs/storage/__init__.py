"""One small interface over the places a run reads and writes: local folders and S3 buckets.

A `Storage` lists everything directly under its location in sorted key order (streamed,
page by page), reads one object, and writes one object atomically. Foreign errors are
translated into `StorageError` subclasses inside each backend: an `ObjectError` when one
object cannot be had (a bad record, with its code), any other when the location itself fails.

Nothing listed is dropped in silence: what is not an input comes as an Entry with a `skip`
reason, and an object whose name cannot be an input's comes with `bad_name`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from caffebatch.errors import ObjectNameError
from caffebatch.jobs.spec import Location, RetryPolicy

# Why a listed object is not an input (Entry.skip)
NESTED = "nested"                           # a folder, or an S3 prefix: what is in it is deeper
HIDDEN = "hidden"                           # a local name starting with "."
NOT_A_REGULAR_FILE = "not_a_regular_file"   # a FIFO, a socket, a device, a dangling link

# The folder of a run's own files in its target; no input may be named so.
RESERVED = "_caffebatch"

# ObjectNameError codes of a result name
INVALID_KEY = "invalid_key"
RESERVED_NAME = "reserved_name"
OUTPUT_NAME_TOO_LONG = "output_name_too_long"


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed object.

    `size` is None where the listing does not know it cheaply. `skip` is None for an input,
    else why the object is not one (NESTED, HIDDEN, NOT_A_REGULAR_FILE): a run never reads
    it, and counts it as skipped with that reason (pipeline.pending). `bad_name` says why the
    object's name cannot be an input's (a local name that is not UTF-8, an S3 key with an
    empty path segment); the key is then a printable stand-in, and a run reports the object
    as a bad record with code ``invalid_name``.
    """

    key: str
    size: int | None = None
    skip: str | None = None
    bad_name: str | None = None


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

    def check_name(self, key: str) -> None:
        """Raise ObjectNameError when `key` cannot name a result here (reserved, too long)."""
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
        from caffebatch.jobs.storage.s3 import S3Storage  # botocore loads only when used

        return S3Storage(location, retry, connections=connections)
    from caffebatch.jobs.storage.local import LocalStorage

    return LocalStorage(location.url)


def check_output_name(key: str, length: int, longest: int, where: str) -> None:
    """The checks of a result's name that every storage shares, and one length limit there.

    `length` is what the limit counts (bytes of the name, of the key, of the path); `where`
    says whose limit it is ("names on the file system of '/out'").
    """
    if key in (".", "..") or "/" in key:
        raise ObjectNameError(f"the key {key!r} cannot name a result object", code=INVALID_KEY)
    if key == RESERVED:
        raise ObjectNameError(
            f"the name {RESERVED!r} is the run folder of the output; rename the input",
            code=RESERVED_NAME,
        )
    if length > longest:
        raise ObjectNameError(
            f"the result would need {length} bytes where {where} allow at most {longest}",
            code=OUTPUT_NAME_TOO_LONG,
        )


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
