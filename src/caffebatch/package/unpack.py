"""Unpacking an untrusted archive of a model folder (.tar, .tar.gz/.tgz and other compressed
tars, .zip), defensively.

Only regular files and folders, no absolute paths, no `..`, no duplicates, bounded archive
size, entry count and unpacked size, the last counted on the bytes actually written, so a
decompression bomb stops at the limit. The caller removes the target folder of a refused
archive.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from caffebatch.errors import PackageError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackageLimits:
    """Bounds on what an archive may hold; the one set of defaults (`Settings.packages`)."""

    # The largest zoo models (VGG-16/19) are 530-550 MB of weights, which compress little.
    max_archive_bytes: int = 1024**3
    max_unpacked_bytes: int = 2 * 1024**3
    max_files: int = 1000


def unpack(archive: Path, target: Path, limits: PackageLimits) -> None:
    """Unpack a .tar(.gz, ...) or .zip `archive` into the empty folder `target`, defensively."""
    if zipfile.is_zipfile(archive):
        entries = _zip_entries(archive)
    elif _is_tar(archive):
        entries = _tar_entries(archive)
    else:
        raise PackageError(f"{archive.name} is neither a folder nor a .tar(.gz) or .zip archive")
    _write_entries(entries, target, limits)


def _is_tar(archive: Path) -> bool:
    try:
        with tarfile.open(archive, "r:*"):
            return True
    except (tarfile.TarError, OSError, EOFError):
        return False


# An archive entry, as plain values: its path, whether it is a folder, and its content.
Entry = tuple[str, bool, IO[bytes] | None]


def _tar_entries(archive: Path) -> Iterator[Entry]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir():
                    yield member.name, True, None
                elif member.isfile():
                    yield member.name, False, tar.extractfile(member)
                else:
                    kind = _TAR_KINDS.get(member.type, "a special file")
                    raise PackageError(
                        f"archive entry {member.name!r} is {kind}; "
                        "only files and folders are allowed"
                    )
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackageError(f"the archive is damaged or not a tar archive: {exc}") from exc


_TAR_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
}


def _zip_entries(archive: Path) -> Iterator[Entry]:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                # Unix file type bits, when the zip tool recorded them (many record none)
                kind = stat.S_IFMT(info.external_attr >> 16)
                if info.flag_bits & 0x1:
                    raise PackageError(f"archive entry {info.filename!r} is encrypted")
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise PackageError(
                        f"archive entry {info.filename!r} is not a plain file or folder"
                    )
                if info.is_dir():
                    yield info.filename, True, None
                else:
                    with zf.open(info) as content:
                        yield info.filename, False, content
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise PackageError(f"the archive is damaged or not a zip archive: {exc}") from exc


def _write_entries(entries: Iterator[Entry], target: Path, limits: PackageLimits) -> None:
    seen: set[PurePosixPath] = set()
    written = 0
    for count, (name, is_dir, content) in enumerate(entries, start=1):
        if count > limits.max_files:
            raise PackageError(f"the archive holds more than {limits.max_files} entries")
        relative = _safe_path(name)
        if relative in seen and not is_dir:
            raise PackageError(f"archive entry {name!r} appears twice")
        seen.add(relative)
        destination = target.joinpath(*relative.parts)
        try:
            if is_dir:
                destination.mkdir(parents=True, exist_ok=True)
            else:
                assert content is not None  # the entry readers give every file its content
                written = _write_file(content, destination, written, limits.max_unpacked_bytes)
        except _UNPACK_ERRORS as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise PackageError(
                f"archive entry {name!r} cannot be unpacked (damaged archive?): {reason}"
            ) from exc


# What reading an entry's content or writing it out can raise: a bad CRC or a truncated
# stream (zip/tar/gzip), or the file system refusing a path.
_UNPACK_ERRORS = (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error)


def _write_file(content: IO[bytes], destination: Path, written: int, limit: int) -> int:
    """Copy one entry, counting the bytes really written against the limit; the new total."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("xb") as out:
        while chunk := content.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise PackageError(f"the archive unpacks to more than {limit} bytes")
            out.write(chunk)
    return written


def _safe_path(name: str) -> PurePosixPath:
    """The entry's path relative to the unpack folder, refusing any that could leave it."""
    if "\\" in name or "\0" in name:
        raise PackageError(f"archive entry {name!r} has a backslash or NUL in its path")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise PackageError(f"archive entry {name!r} has an absolute path; entries must be relative")
    if ".." in path.parts:
        raise PackageError(
            f"archive entry {name!r} goes up with '..'; entries must stay inside the archive"
        )
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise PackageError(f"archive entry {name!r} has an empty path")
    return PurePosixPath(*parts)
