"""Read Caffe's files: network definitions (.prototxt, text) and weights (.caffemodel, binary).

Both readers bound the size they accept, because model files come from users, and translate
protobuf's errors into ours once, here: a text file that does not parse raises
`PrototxtSyntaxError` with its line and column; a weights file that does not decode, or decodes
to something that is not a net, raises `WeightsError` naming the file. Neither reader upgrades
old formats; see `caffebatch.caffe.upgrade`.
"""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf import message, text_format

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import PackageError, PrototxtSyntaxError, WeightsError

# Large real-world deploy prototxts are well under 1 MiB; weights of the largest classic
# Caffe models (VGG-16) are about 550 MB, and protobuf itself cannot go past 2 GiB.
MAX_PROTOTXT_BYTES = 16 * 1024 * 1024
MAX_CAFFEMODEL_BYTES = 2 * 1024 * 1024 * 1024 - 1

# protobuf's ParseError text starts with "line:column : "; we report those separately.
_POSITION_PREFIX = re.compile(r"^\d+:\d+\s*:\s*")
# Our schema's package is `caffebatch.caffe`; users know the messages as `caffe.X`.
_OUR_PACKAGE = re.compile(r"\bcaffebatch\.caffe\.")


def read_prototxt(path: Path, max_bytes: int = MAX_PROTOTXT_BYTES) -> caffe_pb2.NetParameter:
    """Parse a network definition in protobuf text format, as Caffe's ReadProtoFromTextFile.

    Raises PrototxtSyntaxError(path, line, column, reason) when it does not parse, and
    PackageError when the file is missing or larger than `max_bytes`.
    """
    data = _read_bounded(Path(path), max_bytes, "network definition")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position_of(data, exc.start)
        raise PrototxtSyntaxError(str(path), line, column, "the file is not UTF-8 text") from exc
    net = caffe_pb2.NetParameter()
    try:
        text_format.Parse(text, net)
    except text_format.ParseError as exc:
        reason = _OUR_PACKAGE.sub("caffe.", _POSITION_PREFIX.sub("", str(exc)))
        raise PrototxtSyntaxError(
            str(path), exc.GetLine() or 0, exc.GetColumn() or 0, reason
        ) from exc
    return net


def read_caffemodel(path: Path, max_bytes: int = MAX_CAFFEMODEL_BYTES) -> caffe_pb2.NetParameter:
    """Decode trained weights (a binary NetParameter), as Caffe's ReadProtoFromBinaryFile.

    Raises WeightsError naming the file when it does not decode or holds no layers, and
    PackageError when the file is missing or larger than `max_bytes`.
    """
    data = _read_bounded(Path(path), max_bytes, "weights file")
    net = caffe_pb2.NetParameter()
    try:
        net.ParseFromString(data)
    except message.DecodeError as exc:
        raise WeightsError(f"{path}: not a Caffe weights file (.caffemodel): {exc}") from exc
    # Arbitrary bytes sometimes decode as a message made only of unknown fields.
    if not net.layer and not net.layers:
        raise WeightsError(f"{path}: not a Caffe weights file (.caffemodel): it holds no layers")
    return net


def _read_bounded(path: Path, max_bytes: int, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise PackageError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise PackageError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise PackageError(f"{what} {path} is larger than the limit of {max_bytes} bytes")
    return data


def _position_of(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    before = data[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column
