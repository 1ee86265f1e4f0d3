"""Caffe's mean files: a `.binaryproto` holding one BlobProto, the mean image of a training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import PackageError

MAX_MEAN_BYTES = 256 * 1024 * 1024
_LEGACY_DIMS = ("num", "channels", "height", "width")


def read_mean_file(root: Path, name: str, where: str) -> np.ndarray:
    """The mean image in package file `name`, as float32 (C, H, W)."""
    path = root / name
    if not path.is_file():
        present = sorted(p.name for p in root.iterdir() if p.is_file())
        raise PackageError(f"{where}: mean file {name!r} is not in the package; it has {present}")
    if path.stat().st_size > MAX_MEAN_BYTES:
        raise PackageError(f"{where}: mean file {name!r} is over {MAX_MEAN_BYTES} bytes")
    blob = caffe_pb2.BlobProto()
    try:
        blob.ParseFromString(path.read_bytes())
    except DecodeError as error:
        raise PackageError(f"{where}: mean file {name!r} is not a BlobProto: {error}") from None
    # Caffe writes mean files with the legacy 4-D dims (1, C, H, W); newer tools with a shape.
    if any(blob.HasField(dim) for dim in _LEGACY_DIMS):
        shape = tuple(getattr(blob, dim) for dim in _LEGACY_DIMS)
    else:
        shape = tuple(int(d) for d in blob.shape.dim)
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    values = blob.double_data if blob.double_data else blob.data
    if len(shape) != 3 or any(d <= 0 for d in shape) or len(values) != int(np.prod(shape)):
        raise PackageError(f"{where}: mean file {name!r} holds {len(values)} values of shape "
                           f"{list(shape)}; expected one (C, H, W) image")
    mean = np.asarray(values, dtype=np.float32).reshape(shape)
    if not np.isfinite(mean).all():
        raise PackageError(f"{where}: mean file {name!r} holds a value that is not finite")
    return mean
