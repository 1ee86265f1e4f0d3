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

The shape is proved one of two ways, whichever is cheaper for the record: by its skeleton (a
pass over the text, for records of short rows such as LeNet's) or by a walk over the parsed
arrays and a count of the brackets (a step per array, for records of long rows such as an
ImageNet net's).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import cast

import numpy as np
import simdjson

# What a number or whitespace is made of. Deleted from a value's text, they leave its
# skeleton: the brackets and commas that alone say how the numbers nest.
_SPACE = b" \t\n\r"
_NUMBER_OR_SPACE = b"0123456789.eE+-" + _SPACE

# An integer's double is exact below 2**53, so it rounds to the same float32 as the int64 the
# exact path converts (beyond, two roundings may differ from one); float32's range is far above.
_EXACT_BOUND = 2.0**53

# The bytes per array from which the walk is the cheaper proof: the skeleton costs about
# 0.5 ns a byte, the walk and the count about 0.2 µs an array, and they cost the same near 480
# bytes an array (`benchmarks/decode.py --proofs`, BENCHMARKS.md). LeNet's records have about
# 170 (784 numbers in 30 arrays), a 1x3x224x224 one about 4,500.
WALK_FROM = 512


def plain_arrays(
    data: bytes, inputs: Mapping[str, tuple[int, ...]], *, walk_from: int = WALK_FROM
) -> dict[str, np.ndarray] | None:
    """One float32 array per input in its shape, or None when records.decode must look closer.

    `walk_from` chooses the proof of the shape (see `walks`); tests give 0 or sys.maxsize to
    run one proof on every record.
    """
    # The only strings of a plain record are its keys: '{"k": value, "k2": value}'.
    quotes = _find(data, b'"', 2 * len(inputs))
    if quotes is None:
        return None
    names = {name.encode(): name for name in inputs}
    keys = [data[start + 1 : end] for start, end in zip(quotes[::2], quotes[1::2], strict=True)]
    if set(keys) != names.keys():  # as many keys as inputs: none twice, none missing
        return None
    walk = walks(len(data), inputs, walk_from)
    if walk:
        # simdjson skips a byte order mark, which JSON and the exact path refuse (records.decode
        # removes one; a second stays), so the walk's text must open '{' before the first key.
        if data[: quotes[0]].strip(_SPACE) != b"{":
            return None
    elif not _skeleton_fits(data, keys, names, inputs):
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
        if walk and not _walk_fits(data, keys, document, inputs):
            return None
    except (ValueError, TypeError, RuntimeError, KeyError):
        return None
    arrays = {}
    for name, buffer in buffers.items():
        values, shape = np.frombuffer(buffer, dtype=np.float64), inputs[name]
        # The skeleton fixes the nesting but not whether an array of one holds a number or
        # none ('[]'): the count tells.
        if values.size != math.prod(shape) or values.size == 0:
            return None
        # One reduction, not max and min: on LeNet's 784 values numpy's cost is per call.
        if not abs(values).max() < _EXACT_BOUND:
            return None
        arrays[name] = values.reshape(shape).astype(np.float32)
    return arrays


def walks(size: int, inputs: Mapping[str, tuple[int, ...]], walk_from: int = WALK_FROM) -> bool:
    """Whether plain_arrays proves the shape of a record of `size` bytes by the walk.

    It does when the record has at least `walk_from` bytes per array of its inputs' shapes
    (the walk costs per array, the skeleton per byte), else by the skeleton.
    """
    arrays = 0
    for shape in inputs.values():  # a loop, not sum(): this is on LeNet's hot path
        arrays += _arrays(shape)
    return size >= walk_from * arrays


def _skeleton_fits(
    data: bytes, keys: list[bytes], names: dict[bytes, str], inputs: Mapping[str, tuple[int, ...]]
) -> bool:
    """Whether each value's brackets and commas are those of its input's shape (one pass)."""
    # Quotes stay in the skeleton too: it splits into '{', key, ':value,', key, ..., ':value}'.
    parts = data.translate(None, _NUMBER_OR_SPACE).split(b'"')
    if parts[0] != b"{":
        return False
    for at, (key, skeleton) in enumerate(zip(keys, parts[2::2], strict=True), start=1):
        if skeleton not in _skeletons(inputs[names[key]], at == len(keys)):  # positional: cheaper
            return False
    return True


def _walk_fits(
    data: bytes,
    keys: list[bytes],
    document: simdjson.Object,
    inputs: Mapping[str, tuple[int, ...]],
) -> bool:
    """Whether each input's value in `document` is an array of its shape holding nothing else.

    Why that is the whole proof. simdjson found the text valid JSON and each input a key of its
    object; at 2 quotes per input, those keys are all the text's strings. The walk finds arrays
    nested as the shape says: every element above the innermost arrays an array, every array as
    long as its dimension. Any other array would open with a '[' outside the strings, so when
    the '['s outside the keys are as many as the arrays walked, no innermost element is an
    array; none is a string or an object with a key (no quotes are left), and as_buffer refuses
    the rest that is not a number ({}, true, false, null). So every innermost element is one.
    """
    walked = 0
    for name, shape in inputs.items():
        value = document[name]
        if _depth(value) == len(shape) + 1:
            shape = (1, *shape)
        if not _regular(value, shape):
            return False
        walked += _arrays(shape)
    in_keys = sum(key.count(b"[") for key in keys)
    return _find(data, b"[", walked + in_keys) is not None


def _depth(value: object) -> int:
    """How many arrays deep the first innermost element of `value` is (0: not an array)."""
    depth = 0
    while isinstance(value, simdjson.Array):
        depth += 1
        if len(value) == 0:
            break
        value = value[0]
    return depth


def _regular(value: object, shape: tuple[int, ...]) -> bool:
    """Whether `value` is an array of arrays ... of `shape`; the innermost elements unseen."""
    if not shape or not isinstance(value, simdjson.Array):
        return False
    level = [value]
    for size in shape[:-1]:
        below: list[object] = []
        for array in level:
            if len(array) != size:
                return False
            below.extend(array)
        if not all(isinstance(item, simdjson.Array) for item in below):
            return False
        level = cast("list[simdjson.Array]", below)  # just checked
    return all(len(array) == shape[-1] for array in level)


def _find(data: bytes, byte: bytes, count: int) -> list[int] | None:
    """Where the `count` `byte`s of `data` are; None if it has fewer or more (memchr)."""
    found = []
    at = -1
    for _ in range(count):
        at = data.find(byte, at + 1)
        if at < 0:
            return None
        found.append(at)
    return found if data.find(byte, at + 1) < 0 else None


@functools.lru_cache(maxsize=64)
def _arrays(shape: tuple[int, ...]) -> int:
    """How many arrays a regular nested array of `shape` is made of: (2, 3) -> 3."""
    return sum(math.prod(shape[:depth]) for depth in range(len(shape)))


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
