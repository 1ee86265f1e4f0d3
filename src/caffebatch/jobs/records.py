"""Decode and validate one input object: bytes -> float32 arrays, or a RecordError with a code.

An input object is a JSON object with one key per input layer; each value has the layer's
shape without the batch axis, optionally with a leading 1, and holds finite numbers only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import orjson

from caffebatch.errors import RecordError

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
UNREADABLE = "unreadable"
INVALID_KEY = "invalid_key"

# Phrases of orjson's messages that name a more precise code than "invalid_json".
_JSON_FAILURES: tuple[tuple[str, str], ...] = (
    ("not valid UTF-8", NOT_UTF8),
    ("depth limit", TOO_DEEP),
    ("recursion limit", TOO_DEEP),
    ("number is infinity", NOT_FINITE),
)

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


def _parse(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise _json_failure(data, error) from None


def _json_failure(data: bytes, error: orjson.JSONDecodeError) -> RecordError:
    message = str(error)
    for phrase, code in _JSON_FAILURES:
        if phrase in message:
            return RecordError(code, f"not valid JSON: {message}")
    # The standard library reads NaN and Infinity, which JSON (and orjson) does not have.
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return RecordError(INVALID_JSON, f"not valid JSON: {message}")
    return RecordError(NOT_FINITE, "NaN or Infinity is not a number JSON allows; expected finite numbers")
