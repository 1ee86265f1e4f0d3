"""A model folder: the one folder in a tree that holds deployment-meta.json, and its files.

The training that the seed describes archives a `model/` folder, so the package root is
looked for below the folder given, a few levels deep.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from caffebatch.errors import PackageError
from caffebatch.package.labels import read_labels
from caffebatch.package.meta import MAX_META_BYTES, META_FILE, DeploymentMeta

_SEARCH_DEPTH = 4  # how deep under a folder to look for deployment-meta.json


@dataclass(frozen=True)
class ModelPackage:
    """An opened package: its root folder, its metadata and the two files scoring needs.

    `labels` are the class names of the labels file, when the metadata names one.
    `unpacked` is the folder an archive was unpacked into (None for a folder); it belongs
    to the caller, who removes it when done.
    """

    root: Path
    meta: DeploymentMeta
    prototxt: Path
    weights: Path
    unpacked: Path | None = None
    labels: tuple[str, ...] | None = None


def open_folder(folder: Path, unpacked: Path | None = None) -> ModelPackage:
    """The package whose root is `folder` or the one folder below it with the metadata."""
    root = _find_root(folder)
    meta_path = root / META_FILE
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise PackageError(f"{META_FILE} is larger than {MAX_META_BYTES} bytes")
    meta = DeploymentMeta.from_json(meta_path.read_bytes())
    files = {}
    for key in ("network_definitions_file_name", "weights_file_name", "labels_file_name"):
        name = getattr(meta, key)
        if name is None:
            continue
        file = root / name
        if not file.is_file():
            present = sorted(p.name for p in root.iterdir() if p.is_file())
            raise PackageError(
                f"{META_FILE} names {key} {name!r}, which the package lacks; it has {present}"
            )
        files[key] = file
    labels = files.get("labels_file_name")
    return ModelPackage(
        root=root,
        meta=meta,
        prototxt=files["network_definitions_file_name"],
        weights=files["weights_file_name"],
        unpacked=unpacked,
        labels=None if labels is None else read_labels(labels),
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
