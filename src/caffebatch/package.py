"""Model packages: a folder, or an untrusted archive of one, holding a Caffe model.

A package holds `deployment-meta.json`, the network definition it names and the weights it
names. The training that the seed describes archives a `model/` folder, so the package root
is the one folder in the tree that holds `deployment-meta.json`.

Archives (.tar, .tar.gz/.tgz and other compressed tars, .zip) come from users and are
unpacked defensively: only regular files and folders, no absolute paths, no `..`, no
duplicates, bounded archive size, entry count and unpacked size, the last counted on the
bytes actually written, so a decompression bomb stops at the limit. A refused archive
leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from caffebatch.errors import PackageError

META_FILE = "deployment-meta.json"
_CHUNK = 1 << 20
_MAX_META_BYTES = 1 << 20
_SEARCH_DEPTH = 4  # how deep under a folder to look for deployment-meta.json


@dataclass(frozen=True)
class PackageLimits:
    """Bounds on what an archive may hold."""

    max_archive_bytes: int = 2 * 1024**3
    max_unpacked_bytes: int = 4 * 1024**3
    max_files: int = 1000


@dataclass(frozen=True)
class DeploymentMeta:
    """deployment-meta.json: which files hold the model, and its input and output layers."""

    input_layers: tuple[str, ...]
    output_layers: tuple[str, ...]
    network_definitions_file_name: str
    weights_file_name: str

    @classmethod
    def from_json(cls, text: str | bytes) -> DeploymentMeta:
        """Parse and validate the file's content; PackageError says which field is wrong."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PackageError(f"{META_FILE} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PackageError(f"{META_FILE} must hold a JSON object, got {type(data).__name__}")
        return cls(
            input_layers=_names(data, "input_layers"),
            output_layers=_names(data, "output_layers"),
            network_definitions_file_name=_file_name(data, "network_definitions_file_name"),
            weights_file_name=_file_name(data, "weights_file_name"),
        )


@dataclass(frozen=True)
class ModelPackage:
    """An opened package: its root folder, its metadata and the two files scoring needs.

    `unpacked` is the folder an archive was unpacked into (None for a folder); it belongs
    to the caller, who removes it when done.
    """

    root: Path
    meta: DeploymentMeta
    prototxt: Path
    weights: Path
    unpacked: Path | None = None


def open_package(
    path: Path, workdir: Path | None = None, limits: PackageLimits = PackageLimits()
) -> ModelPackage:
    """Open a model folder or archive. Archives are unpacked into a new folder in `workdir`
    (a new temporary folder when None). Raises PackageError saying what to fix."""
    path = Path(path)
    if path.is_dir():
        return _open_folder(path)
    if not path.is_file():
        raise PackageError(f"model package {path} does not exist")
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise PackageError(
            f"archive {path.name} is {size} bytes; the limit is {limits.max_archive_bytes}"
        )
    target = Path(tempfile.mkdtemp(prefix="package-", dir=workdir))
    try:
        _unpack(path, target, limits)
        return _open_folder(target, unpacked=target)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def pack(folder: Path, prefix: str = "model") -> bytes:
    """A .tar.gz of the regular files in `folder`, under `prefix/` as the seed's training has it."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for file in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            arcname = str(PurePosixPath(prefix, file.relative_to(folder).as_posix()))
            tar.add(file, arcname=arcname, recursive=False)
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# deployment-meta.json


def _names(data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise PackageError(
            f"{META_FILE}: {key!r} must be a non-empty list of layer names, got {value!r}"
        )
    if not all(isinstance(name, str) and name for name in value):
        raise PackageError(f"{META_FILE}: {key!r} must hold non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        raise PackageError(f"{META_FILE}: {key!r} names a layer twice: {value!r}")
    return tuple(value)


def _file_name(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PackageError(f"{META_FILE}: {key!r} must be a file name, got {value!r}")
    if value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise PackageError(
            f"{META_FILE}: {key!r} must be a plain file name in the package, got {value!r}"
        )
    return value


# ---------------------------------------------------------------------------
# Folders


def _open_folder(folder: Path, unpacked: Path | None = None) -> ModelPackage:
    root = _find_root(folder)
    meta_path = root / META_FILE
    if meta_path.stat().st_size > _MAX_META_BYTES:
        raise PackageError(f"{META_FILE} is larger than {_MAX_META_BYTES} bytes")
    meta = DeploymentMeta.from_json(meta_path.read_bytes())
    files = {}
    for key in ("network_definitions_file_name", "weights_file_name"):
        name = getattr(meta, key)
        file = root / name
        if not file.is_file():
            present = sorted(p.name for p in root.iterdir() if p.is_file())
            raise PackageError(
                f"{META_FILE} names {key} {name!r}, which the package lacks; it has {present}"
            )
        files[key] = file
    return ModelPackage(
        root=root,
        meta=meta,
        prototxt=files["network_definitions_file_name"],
        weights=files["weights_file_name"],
        unpacked=unpacked,
    )


def _find_root(folder: Path) -> Path:
    if (folder / META_FILE).is_file():
        return folder
    found = sorted(_folders_with_meta(folder, _SEARCH_DEPTH))
    if not found:
        raise PackageError(
            f"the package holds no {META_FILE} (looked in {folder.name or folder} and below)"
        )
    if len(found) > 1:
        listed = [str(p.relative_to(folder)) for p in found]
        raise PackageError(
            f"the package holds several {META_FILE} files, in {listed}; keep one model per package"
        )
    return found[0]


def _folders_with_meta(folder: Path, depth: int) -> Iterator[Path]:
    if depth == 0:
        return
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            sub = Path(entry.path)
            if (sub / META_FILE).is_file():
                yield sub
            else:
                yield from _folders_with_meta(sub, depth - 1)


# ---------------------------------------------------------------------------
# Archives


def _unpack(archive: Path, target: Path, limits: PackageLimits) -> None:
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
