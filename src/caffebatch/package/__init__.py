"""Model packages: a folder, or an untrusted archive of one, holding a Caffe model.

A package holds `deployment-meta.json` (`meta`), the network definition it names and the
weights it names. The package root is the one folder in the tree that holds the metadata
(`folder`). Archives come from users and are unpacked defensively (`unpack`); a refused
archive leaves nothing behind.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from caffebatch.errors import PackageError
from caffebatch.package.folder import ModelPackage, open_folder
from caffebatch.package.meta import META_FILE, DeploymentMeta
from caffebatch.package.unpack import PackageLimits, unpack

__all__ = [
    "META_FILE",
    "DeploymentMeta",
    "ModelPackage",
    "PackageLimits",
    "open_package",
    "pack",
]


def open_package(
    path: Path, workdir: Path | None = None, limits: PackageLimits | None = None
) -> ModelPackage:
    """Open a model folder or archive. Archives are unpacked into a new folder in `workdir`
    (a new temporary folder when None), within `limits` (PackageLimits() when None).
    Raises PackageError saying what to fix."""
    if limits is None:
        limits = PackageLimits()
    path = Path(path)
    if path.is_dir():
        return open_folder(path)
    if not path.is_file():
        raise PackageError(f"model package {path} does not exist")
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise PackageError(
            f"archive {path.name} is {size} bytes; the limit is {limits.max_archive_bytes}"
        )
    target = Path(tempfile.mkdtemp(prefix="package-", dir=workdir))
    try:
        unpack(path, target, limits)
        return open_folder(target, unpacked=target)
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
