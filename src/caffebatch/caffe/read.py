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


def read_prototxt(
    path: Path, max_bytes: int = MAX_PROTOTXT_BYTES, shown_as: str | None = None
) -> caffe_pb2.NetParameter:
    """Parse a network definition in protobuf text format, as Caffe's ReadProtoFromTextFile.

    Raises PrototxtSyntaxError(file, line, column, reason) when it does not parse, naming
    the layer the error is in; the file is `shown_as` (e.g. its name in the model folder)
    or else `path`. Raises PackageError when the file is missing or larger than `max_bytes`.
    """
    data = _read_bounded(Path(path), max_bytes, "network definition")
    shown = shown_as or str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position_of(data, exc.start)
        raise PrototxtSyntaxError(shown, line, column, "the file is not UTF-8 text") from exc
    net = caffe_pb2.NetParameter()
    try:
        text_format.Parse(text, net)
    except text_format.ParseError as exc:
        line = exc.GetLine() or 0
        reason = _OUR_PACKAGE.sub("caffe.", _POSITION_PREFIX.sub("", str(exc)))
        raise PrototxtSyntaxError(
            shown, line, exc.GetColumn() or 0, _in_layer(text, line, reason)
        ) from exc
    return net


# protobuf says: Message type "caffe.X" has no field named "f".
_NO_FIELD = re.compile(r'Message type "caffe\.(\w+)" has no field named "(\w+)"')
_LAYER_START = re.compile(r"^\s*(layers?)\s*\{", re.MULTILINE)
_NAME = re.compile(r'^\s*name\s*:\s*"([^"]*)"', re.MULTILINE)


def _in_layer(text: str, line: int, reason: str) -> str:
    """`reason`, reworded to name the layer around `line` and, for an unknown field, the field."""
    before = "\n".join(text.splitlines()[: max(line - 1, 0)])
    starts = list(_LAYER_START.finditer(before))
    if not starts:
        return reason
    layer = _NAME.search(text, starts[-1].end())
    where = f"layer {layer.group(1)!r}" if layer else "a layer"
    unknown = _NO_FIELD.search(reason)
    if unknown:
        message, field = unknown.groups()
        return (
            f"{where}: unknown field {field!r} (caffe.{message} has no field of that name; "
            "the layer may come from a Caffe fork caffebatch does not know)"
        )
    return f"{where}: {reason}"


def read_caffemodel(path: Path, max_bytes: int = MAX_CAFFEMODEL_BYTES) -> caffe_pb2.NetParameter:
    """Decode trained weights (a binary NetParameter), as Caffe's ReadProtoFromBinaryFile.

    Raises WeightsError naming the file when it does not decode or holds no layers, and
    PackageError when the file is missing or larger than `max_bytes`.
    """
    data = _read_bounded(Path(path), max_bytes, "weights file")
    net = caffe_pb2.NetParameter()
    try:
        net.ParseFromString(data)
    except message.DecodeError:
        net = _weights_only(path, data)
    # Arbitrary bytes sometimes decode as a message made only of unknown fields.
    if not net.layer and not net.layers:
        raise WeightsError(f"{path}: not a Caffe weights file (.caffemodel): it holds no layers")
    return net


def _weights_only(path: Path, data: bytes) -> caffe_pb2.NetParameter:
    """The layers' names and blobs alone, for a file that a fork's field numbering breaks.

    Parameters are read from the network definition, never from the weights file, so
    nothing scoring needs is lost.
    """
    weights = caffe_pb2.WeightsOnlyNet()
    try:
        weights.ParseFromString(data)
    except message.DecodeError as exc:
        raise WeightsError(f"{path}: not a Caffe weights file (.caffemodel): {exc}") from exc
    net = caffe_pb2.NetParameter(name=weights.name)
    for layer in weights.layer:
        net.layer.add(name=layer.name, type=layer.type, blobs=layer.blobs)
    for v1 in weights.layers:
        old = net.layers.add(name=v1.name, blobs=v1.blobs)
        if v1.HasField("layer"):
            old.layer.name = v1.layer.name
            old.layer.type = v1.layer.type
            old.layer.blobs.extend(v1.layer.blobs)
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
