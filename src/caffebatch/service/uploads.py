"""One way in for a model package, from the API's request body and the dashboard's form alike.

The bytes are written to a temporary file under ``<home>/uploads`` as they arrive and counted
there: a package over `Settings.packages.max_archive_bytes` is refused (PayloadTooLargeError,
413) as soon as it is known to be, whether or not it declared its size. The file goes when the
upload's block ends; publishing (`models.publish_content`) copies what it keeps.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from caffebatch.errors import PayloadTooLargeError
from caffebatch.service.context import ServiceContext

CHUNK_BYTES = 1024 * 1024


class PackageUpload:
    """A package being received; `write` its chunks, then publish `path`."""

    def __init__(self, file: IO[bytes], limit: int) -> None:
        self._file, self.limit, self.size = file, limit, 0
        self.path = Path(file.name)

    def write(self, chunk: bytes) -> None:
        """Add a chunk; PayloadTooLargeError once the package passes the limit."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise PayloadTooLargeError(f"the package is over the limit of {self.limit} bytes")
        self._file.write(chunk)

    def copy_from(self, stream: IO[bytes]) -> None:
        """Write everything `stream` holds, a chunk at a time."""
        while chunk := stream.read(CHUNK_BYTES):
            self.write(chunk)

    def finish(self) -> Path:
        """The received package, whole on disk."""
        self._file.flush()
        return self.path


def check_declared(ctx: ServiceContext, declared: str | None) -> None:
    """Refuse a package whose declared size (a Content-Length) is over the limit."""
    limit = ctx.settings.packages.max_archive_bytes
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the package is {declared} bytes; the limit is {limit}")


@contextmanager
def receive_package(ctx: ServiceContext, declared: str | None = None) -> Iterator[PackageUpload]:
    """A PackageUpload into a temporary file that is removed when the block ends."""
    check_declared(ctx, declared)
    uploads = ctx.settings.home / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=uploads, suffix=".upload") as file:
        yield PackageUpload(file, ctx.settings.packages.max_archive_bytes)
