"""Decode and validate one input object: bytes -> float32 arrays, or a RecordError with a code.

An input object is a JSON object with one key per input layer; each value has the layer's
shape without the batch axis, optionally with a leading 1, and holds finite numbers only.
The text is UTF-8; a leading UTF-8 byte order mark is accepted and ignored (RFC 8259 allows a
parser to), UTF-16 and UTF-32 are not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import orjson

from caffebatch.errors import RecordError
from caffebatch.jobs.plain_records import plain_arrays

# The stable error codes of errors.jsonl (documented in docs/batch-runs.md).
EMPTY = "empty"
TOO_LARGE = "too_large"
NOT_UTF8 = "not_utf8"
INVALID_JSON = "invalid_json"
TOO_DEEP = "too_deep"
NOT_FINITE = "not_finite"
NOT_AN_OBJECT = "not_an_object"
MISSING_INPUT = "missing_input"
UNEXPECTED_KEY = "unexpected_key"
NOT_NUMERIC = "not_numeric"
RAGGED = "ragged"
WRONG_SHAPE = "wrong_shape"
DUPLICATE_KEY = "duplicate_key"
# The codes of objects that cannot be read, or whose names cannot be used (unreadable,
# permission_denied, archived, corrupt, invalid_name, invalid_key, reserved_name,
# output_name_too_long), are those of errors.ObjectError and its subclasses.

UTF8_BOM = b"\xef\xbb\xbf"

# Phrases of orjson's messages that name a more precise code than "invalid_json".
_JSON_FAILURES: tuple[tuple[str, str], ...] = (
    ("not valid UTF-8", NOT_UTF8),
    ("depth limit", TOO_DEEP),
    ("recursion limit", TOO_DEEP),
    ("number is infinity", NOT_FINITE),
    ("surrogate", NOT_UTF8),  # a \\ud800 escape without its pair is no Unicode character
)

# NaN and Infinity where a JSON value goes: orjson stops there (at the letter, after a sign).
_NOT_FINITE_TOKEN = re.compile(r"(?:NaN|Infinity)(?=\s*[,\]}])")

_JSON_TYPES: dict[type, str] = {
    dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
    bool: "a boolean", type(None): "null",
}

# numpy dtype kind of an inferred array -> what the JSON held, for kinds that are not numbers
_NOT_NUMBERS: dict[str, str] = {"U": "strings", "b": "booleans", "O": "nulls, objects or mixed values"}


@dataclass(frozen=True)
class Record:
    """One decoded input: its key and one float32 array per input, in the layer's shape."""

    key: str
    arrays: dict[str, np.ndarray]


def decode(key: str, data: bytes, inputs: Mapping[str, tuple[int, ...]], limit: int) -> Record:
    """Decode and validate the bytes of input object `key` for a model with `inputs`."""
    if not data:
        raise RecordError(EMPTY, "the object is empty; expected a JSON object")
    if len(data) > limit:
        raise RecordError(TOO_LARGE, f"the object is over the limit of {limit} bytes")
    data = data.removeprefix(UTF8_BOM)
    arrays = plain_arrays(data, inputs)
    if arrays is not None:
        return Record(key, arrays)
    return decode_exactly(key, data, inputs)


def decode_exactly(key: str, data: bytes, inputs: Mapping[str, tuple[int, ...]]) -> Record:
    """decode's answer for what its fast path leaves (any error, any odd record): every check.

    `data` is within the limit and without its byte order mark.
    """
    document = _parse(data)
    if not isinstance(document, dict):
        raise RecordError(
            NOT_AN_OBJECT,
            f"expected a JSON object with the key(s) {sorted(inputs)}, "
            f"got {_JSON_TYPES.get(type(document), type(document).__name__)}",
        )
    missing = [name for name in inputs if name not in document]
    if missing:
        raise RecordError(
            MISSING_INPUT, f"missing input(s) {missing}; the object has {sorted(document)}"
        )
    extra = sorted(name for name in document if name not in inputs)
    if extra:
        raise RecordError(
            UNEXPECTED_KEY, f"unexpected key(s) {extra}; the model's inputs are {sorted(inputs)}"
        )
    # memchr-fast looks at the bytes spare the usual record (numbers only) the walks below.
    if _has_more_quotes(data, 2 * len(document)):  # more strings than keys: maybe a key twice
        _refuse_duplicate_keys(data)
    if _may_hold_booleans(data):
        for name in inputs:
            if _holds_boolean(document[name]):
                raise RecordError(
                    NOT_NUMERIC, f"input {name!r}: expected numbers, got booleans among them"
                )
    return Record(key, {name: to_array(name, document[name], shape) for name, shape in inputs.items()})


def to_array(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """A JSON value as a float32 array of `shape` (a leading 1 is dropped)."""
    try:
        array = np.array(value)
    except ValueError as error:
        if "maximum number of dimension" in str(error):
            raise RecordError(
                TOO_DEEP, f"input {name!r}: nested too deeply; expected shape {list(shape)}"
            ) from None
        raise RecordError(
            RAGGED, f"input {name!r}: the nested arrays have unequal lengths; expected shape "
            f"{list(shape)}"
        ) from None
    if array.dtype.kind in _NOT_NUMBERS:
        raise RecordError(
            NOT_NUMERIC,
            f"input {name!r}: expected numbers, got {_NOT_NUMBERS[array.dtype.kind]}",
        )
    if array.shape == (1, *shape):
        array = array[0]
    if array.shape != shape:
        raise RecordError(
            WRONG_SHAPE,
            f"input {name!r}: expected shape {list(shape)} (or {[1, *shape]}), "
            f"got {list(array.shape)}",
        )
    with np.errstate(over="ignore"):
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise RecordError(
            NOT_FINITE, f"input {name!r}: a value is beyond float32's range (about 3.4e38)"
        )
    return array


def _has_more_quotes(data: bytes, count: int) -> bool:
    """Whether `data` has more than `count` double quotes (one find per quote, then memchr)."""
    at = -1
    for _ in range(count + 1):
        at = data.find(b'"', at + 1)
        if at < 0:
            return False
    return True


def _may_hold_booleans(data: bytes) -> bool:
    """False when `data` surely holds no true or false: no "u" or "l" (no number has them)."""
    if b"u" not in data and b"l" not in data:
        return False
    return b"true" in data or b"false" in data


def _refuse_duplicate_keys(data: bytes) -> None:
    """Raise duplicate_key when an object holds a key twice (orjson keeps the last silently)."""

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in items]
        if len(set(keys)) < len(keys):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise RecordError(DUPLICATE_KEY, f"the key(s) {twice} appear more than once")
        return dict(items)

    try:
        json.loads(data, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        pass  # orjson read it, the standard library cannot: nothing more to learn here


def _holds_boolean(value: object) -> bool:
    """Whether a JSON value has true or false anywhere (numpy would read them as 1 and 0)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is bool:
            return True
        if isinstance(item, list):
            pending.extend(item)
    return False


def _parse(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise _json_failure(data, error) from None


def _json_failure(data: bytes, error: orjson.JSONDecodeError) -> RecordError:
    """The code for bytes orjson refused: a more precise one than invalid_json only when certain."""
    message = str(error)
    for phrase, code in _JSON_FAILURES:
        if phrase in message:
            return RecordError(code, f"not valid JSON: {message}")
    if b"\x00" in data:  # UTF-8 JSON never holds a NUL byte; UTF-16 and UTF-32 text always does
        return RecordError(
            NOT_UTF8, "the text has NUL bytes: UTF-16 or UTF-32, not UTF-8; expected UTF-8 JSON"
        )
    # error.pos counts characters, and the text up to it is valid UTF-8 (else orjson said so)
    text = data.decode("utf-8", errors="replace")
    if _NOT_FINITE_TOKEN.match(text, error.pos):
        return RecordError(
            NOT_FINITE, "NaN or Infinity is not a number JSON allows; expected finite numbers"
        )
    return RecordError(INVALID_JSON, f"not valid JSON: {message}")
