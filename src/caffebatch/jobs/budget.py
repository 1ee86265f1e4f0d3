"""The byte budget of a run's records in flight: fetched, decoded and batched, not yet written.

A run holds whole chunks of records at once, so its memory is what those chunks weigh, not
how many there are. Each chunk is charged before it starts (`chunk_bytes`) and released when
its Outcome is back, and chunks are cut so that one never weighs more than its share of the
budget: peak memory follows `RunOptions.max_inflight_bytes`, whatever the object size.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping

from caffebatch.jobs.storage import Entry

# Decoding a JSON record builds a Python float and a list slot per number, then a float64
# array, before the float32 one exists: tracemalloc's peak for one GoogLeNet-size record
# (orjson) was 13.7x its 2.8 MB of text, and 97-257 bytes per number; a record is charged
# this much while it is decoded.
DECODING_BYTES_PER_TEXT_BYTE = 14
DECODING_BYTES_PER_NUMBER = 256  # where the listing does not give the size


def record_bytes(inputs: Mapping[str, tuple[int, ...]]) -> int:
    """The decoded size of one record (float32)."""
    return 4 * sum(math.prod(shape) for shape in inputs.values())


def entry_bytes(entry: Entry, decoded: int) -> int:
    """What one record may weigh in flight: its text while decoding, then its arrays."""
    if entry.size is None:
        return DECODING_BYTES_PER_NUMBER * decoded // 4 + decoded
    return DECODING_BYTES_PER_TEXT_BYTE * entry.size + decoded


def chunks_within(entries: Iterable[Entry], size: int, max_bytes: int,
                  decoded: int) -> Iterator[tuple[list[Entry], int]]:
    """Chunks of at most `size` entries and `max_bytes` bytes (one entry at least), with
    each chunk's weight."""
    chunk: list[Entry] = []
    weight = 0
    for entry in entries:
        cost = entry_bytes(entry, decoded)
        if chunk and (len(chunk) == size or weight + cost > max_bytes):
            yield chunk, weight
            chunk, weight = [], 0
        chunk.append(entry)
        weight += cost
    if chunk:
        yield chunk, weight


class ByteBudget:
    """A counting semaphore of bytes. A charge over the whole budget waits for an empty one
    and then goes alone, so an oversized record is still scored, one at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, amount: int, timeout: float | None = None) -> bool:
        """Take `amount` bytes; False when `timeout` passed first."""
        with self._changed:
            fits = self._changed.wait_for(
                lambda: self._used == 0 or self._used + amount <= self.limit, timeout)
            if fits:
                self._used += amount
            return fits

    def release(self, amount: int) -> None:
        with self._changed:
            self._used -= amount
            self._changed.notify_all()
