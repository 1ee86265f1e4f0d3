"""Input formats: what an input object holds, told by its content, and how it becomes a Record.

Each format registers a `sniff` (does this object look like me?) and a `decode`. `decode`
below tries them in registration order and falls back to the seed's JSON object, so adding a
format is one module plus its `@input_format` registration, and the pipeline calls one
function whatever the object holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs import records

Decoder = Callable[[str, bytes, InputSpec], records.Record]


@dataclass(frozen=True)
class InputFormat:
    name: str
    sniff: Callable[[bytes], bool]
    decode: Decoder


_FORMATS: dict[str, InputFormat] = {}


def input_format(name: str, sniff: Callable[[bytes], bool]) -> Callable[[Decoder], Decoder]:
    """Register a decoder for objects that `sniff` recognises; a name registers once."""

    def register(decode: Decoder) -> Decoder:
        if name in _FORMATS:
            raise ValueError(f"input format {name!r} is registered twice")
        _FORMATS[name] = InputFormat(name, sniff, decode)
        return decode

    return register


def formats() -> tuple[InputFormat, ...]:
    """The registered formats, in the order they are tried (JSON objects come after all)."""
    _load_builtin()
    return tuple(_FORMATS.values())


def decode(key: str, data: bytes, spec: InputSpec, limit: int) -> records.Record:
    """The Record in input object `key`, whatever format it holds; RecordError when bad."""
    if data and len(data) <= limit:
        for candidate in formats():
            if candidate.sniff(data):
                return candidate.decode(key, data, spec)
    return records.decode(key, data, spec.shapes, limit)


def _load_builtin() -> None:
    # The built-in formats register themselves on import, as a plug-in would.
    from caffebatch.inputs import images  # noqa: F401
