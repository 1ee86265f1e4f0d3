"""The fast path of records.decode: a plain record's arrays straight from its text, or None.

A plain record is the usual input object: one key per input, each value a regular nested
array of JSON numbers in the input's shape (with or without the leading 1). simdjson parses
it into one buffer of doubles per input, with no Python object per number; orjson plus
`np.array` on the nested lists cost several times the CPU, all of it holding the GIL.

Anything else gives None and records.decode takes its exact path, which names what is wrong:
a string, a boolean or null among the numbers, a key twice, a missing or unexpected key, a
ragged or misshapen array, a value beyond +-2**53, text simdjson refuses. So this path never
decides an error, and where it answers it gives the exact path's arrays bit for bit
(tests/jobs/test_plain_records.py): both parsers round every number correctly to a double.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import simdjson

# What a number or whitespace is made of. Deleted from a value's text, they leave its
# skeleton: the brackets and commas that alone say how the numbers nest.
_NUMBER_OR_SPACE = b"0123456789.eE+- \t\n\r"

# An integer's double is exact below 2**53, so it rounds to the same float32 as the int64 the
# exact path converts (beyond, two roundings may differ from one); float32's range is far above.
_EXACT_BOUND = 2.0**53


def plain_arrays(
    data: bytes, inputs: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray] | None:
    """One float32 array per input in its shape, or None when records.decode must look closer."""
    # The only strings of a plain record are its keys: '{"k": value, "k2": value}'.
    quotes = _quotes(data, 2 * len(inputs))
    if quotes is None:
        return None
    names = {name.encode(): name for name in inputs}
    keys = [data[start + 1 : end] for start, end in zip(quotes[::2], quotes[1::2], strict=True)]
    if set(keys) != names.keys():  # as many keys as inputs: none twice, none missing
        return None
    # Quotes stay in the skeleton too: it splits into '{', key, ':value,', key, ..., ':value}'.
    parts = data.translate(None, _NUMBER_OR_SPACE).split(b'"')
    if parts[0] != b"{":
        return None
    for at, (key, skeleton) in enumerate(zip(keys, parts[2::2], strict=True), start=1):
        if skeleton not in _skeletons(inputs[names[key]], last=at == len(keys)):
            return None
    try:
        # A skeleton says how numbers nest only in valid JSON, which simdjson checks; as_buffer
        # refuses any non-number where a number goes, parse an integer beyond 64 bits.
        document = simdjson.Parser().parse(data)
        if not isinstance(document, simdjson.Object):
            return None
        buffers = {}
        for name in inputs:
            value = document[name]
            if not isinstance(value, simdjson.Array):
                return None
            buffers[name] = value.as_buffer(of_type="d")
    except (ValueError, TypeError, RuntimeError, KeyError):
        return None
    arrays = {}
    for name, buffer in buffers.items():
        values, shape = np.frombuffer(buffer, dtype=np.float64), inputs[name]
        # The skeleton fixes the nesting but not whether an array of one holds a number or
        # none ('[]'): the count tells.
        if values.size != math.prod(shape) or values.size == 0:
            return None
        if not (values.max() < _EXACT_BOUND and values.min() > -_EXACT_BOUND):
            return None
        arrays[name] = values.reshape(shape).astype(np.float32)
    return arrays


def _quotes(data: bytes, count: int) -> list[int] | None:
    """Where the `count` double quotes of `data` are; None if it has fewer or more (memchr)."""
    found = []
    at = -1
    for _ in range(count):
        at = data.find(b'"', at + 1)
        if at < 0:
            return None
        found.append(at)
    return found if data.find(b'"', at + 1) < 0 else None


@functools.lru_cache(maxsize=64)
def _skeletons(shape: tuple[int, ...], last: bool) -> tuple[bytes, bytes]:
    """The skeletons of a plain value of `shape`, without and with the leading 1, and what ends it."""
    end = b"}" if last else b","
    return b":" + _nesting(shape) + end, b":" + _nesting((1, *shape)) + end


def _nesting(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a regular nested array of `shape`: (2, 3) -> b'[[,,],[,,]]'."""
    if not shape:
        return b""
    return b"[" + b",".join([_nesting(shape[1:])] * shape[0]) + b"]"
