"""Input formats: what an input object holds, told by its content, and how it becomes a Record.

Each format registers a `sniff` (does this object look like me?), optionally the name ending
it is for (`suffix`: ".jsonl"), and a `decode`. `decode` below tries them in registration
order and falls back to the seed's JSON object, so adding a format is one module plus its
`@input_format` registration, and the pipeline calls one function whatever the object holds.

A decoder returns one Record, or `Lines` when the object holds many records (JSON Lines):
they are scored with the others and their results written back as one object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from caffebatch.errors import RecordError
from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs import records


@dataclass(frozen=True)
class Lines:
    """The records of one object that holds many (a JSON Lines file), in input order.

    `order` is every record's key (``<key>#<line>``), bad ones too; `records` are those that
    decoded, `errors` the others with why (key, RecordError).
    """

    key: str
    order: tuple[str, ...]
    records: tuple[records.Record, ...]
    errors: tuple[tuple[str, RecordError], ...]


Decoder = Callable[[str, bytes, InputSpec], "records.Record | Lines"]


@dataclass(frozen=True)
class InputFormat:
    name: str
    sniff: Callable[[bytes], bool]
    decode: Decoder
    suffix: str | None = None                         # only objects named so
    limit: Callable[[InputSpec], int] | None = None   # their size limit, if not a record's
    many: bool = False                                # decodes to Lines

    def names(self, key: str) -> bool:
        return self.suffix is not None and key.endswith(self.suffix)

    def claims(self, key: str, data: bytes) -> bool:
        return (self.suffix is None or self.names(key)) and self.sniff(data)


_FORMATS: dict[str, InputFormat] = {}
_tried: tuple[InputFormat, ...] | None = None  # formats() once the built-in ones are loaded


def input_format(name: str, sniff: Callable[[bytes], bool], *, suffix: str | None = None,
                 limit: Callable[[InputSpec], int] | None = None, many: bool = False,
                 ) -> Callable[[Decoder], Decoder]:
    """Register a decoder for objects that `sniff` recognises (and, with `suffix`, that are
    named so; `limit` is then their size limit; `many`: it returns Lines); a name registers
    once."""

    def register(decode: Decoder) -> Decoder:
        global _tried
        if name in _FORMATS:
            raise ValueError(f"input format {name!r} is registered twice")
        _FORMATS[name] = InputFormat(name, sniff, decode, suffix, limit, many)
        _tried = None
        return decode

    return register


def formats() -> tuple[InputFormat, ...]:
    """The registered formats, in the order they are tried (JSON objects come after all)."""
    global _tried
    if _tried is None:  # every input object asks: the imports and the tuple are made once
        _load_builtin()
        _tried = tuple(_FORMATS.values())
    return _tried


def decode(key: str, data: bytes, spec: InputSpec, limit: int) -> records.Record | Lines:
    """The Record (or Lines) in input object `key`, whatever format it holds; RecordError
    when bad. `limit` is a record's size limit; an object whose name picks a format with a
    limit of its own (`object_limit`) is held to that one instead."""
    if data and len(data) <= object_limit(key, spec, limit):
        for candidate in formats():
            if candidate.claims(key, data):
                return candidate.decode(key, data, spec)
    return records.decode(key, data, spec.shapes, limit)


def object_limit(key: str, spec: InputSpec, limit: int) -> int:
    """The size limit of object `key`: its format's, where the name picks one, else `limit`."""
    for candidate in formats():
        if candidate.limit is not None and candidate.names(key):
            return candidate.limit(spec)
    return limit


def groups(key: str) -> bool:
    """Whether object `key` is named like one that holds many records (a result that is there
    may hold some of them only, so only its worker can tell whether it is done)."""
    return any(candidate.many and candidate.names(key) for candidate in formats())


def _load_builtin() -> None:
    # The built-in formats register themselves on import, as a plug-in would: images first,
    # so that an image is read as one whatever its name.
    from caffebatch.inputs import images, jsonl  # noqa: F401
