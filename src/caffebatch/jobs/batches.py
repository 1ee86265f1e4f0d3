"""Records -> batches for the model -> one encoded result per input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import orjson

from caffebatch.compiler.layouts import BATCH, record_value
from caffebatch.jobs.records import Record

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """Records stacked along a new batch axis, one array per input."""

    keys: tuple[str, ...]
    feeds: dict[str, np.ndarray]


@dataclass(frozen=True)
class Scored:
    """A batch's keys with the model's outputs (batch axis first).

    `layouts` names the outputs whose first axis is not the batch axis (detections,
    priors), as the compiled model describes them (`caffebatch.compiler.layouts`).
    """

    keys: tuple[str, ...]
    outputs: dict[str, np.ndarray]
    layouts: Mapping[str, str] = field(default_factory=dict)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive groups of `size` items; the last one may be smaller."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stack(records: list[Record]) -> Batch:
    """One batch of `records` (all for the same model)."""
    names = records[0].arrays
    return Batch(
        tuple(r.key for r in records),
        {name: np.stack([r.arrays[name] for r in records]) for name in names},
    )


def batches(records: Iterable[Record], size: int) -> Iterator[Batch]:
    """Group records into batches of `size`; the last one may be smaller."""
    for group in chunked(records, size):
        yield stack(group)


def encode(key: str, outputs: Mapping[str, np.ndarray]) -> bytes:
    """The result object of input `key`: ``{"key": {"<output>": values}}``.

    Values are float32 in shortest round-trip form (orjson writes numpy float32 so).
    """
    return orjson.dumps({key: dict(outputs)}, option=orjson.OPT_SERIALIZE_NUMPY)


def results(scored: Scored) -> Iterator[tuple[str, bytes]]:
    """Split a scored batch back into one (key, result bytes) per input.

    Each record gets what Caffe gives for it alone in a batch of one: its row of an
    ordinary output, its own detections of a detection output (`layouts.ROWS`).
    """
    for index, key in enumerate(scored.keys):
        yield key, encode(key, {
            name: record_value(scored.layouts.get(name, BATCH), values, index)
            for name, values in scored.outputs.items()
        })


def line_key(key: str, number: int) -> str:
    """The record key of line `number` of an object `key` that holds many (JSON Lines)."""
    return f"{key}#{number}"


def result_lines(key: str, data: bytes) -> dict[str, bytes]:
    """The result lines in the result object `key` of an object that holds many, by record
    key (``<key>#<n>``).

    A line counts only when it is whole: it starts with the key of a line of `key` and ends
    where its object closes. Anything else (a damaged or foreign line) is scored again.
    """
    head = orjson.dumps(line_key(key, 0))[:-2]  # '"<key>#' without the 0 and closing quote
    found: dict[str, bytes] = {}
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if not (line.startswith(b"{" + head) and line.endswith(b"}}")):
            continue
        digits, quote, rest = line[1 + len(head):].partition(b'":{')
        if quote and digits.isdigit() and rest:
            found[line_key(key, int(digits))] = line
    return found
