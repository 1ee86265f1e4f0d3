"""The stages of a run, as plain functions over plain values and generators.

    pending(source, target) ─► load (fetch + decode) ─► accept ─► batches ─► score ─► write

Executors decide where and how concurrently each stage runs (see executors/).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from caffebatch.errors import ModelError, ObjectNotFoundError, RecordError
from caffebatch.jobs import records
from caffebatch.jobs.batches import Batch, Scored, results
from caffebatch.jobs.report import RunReport
from caffebatch.jobs.storage import Entry, Storage

if TYPE_CHECKING:
    from caffebatch.runtime.scorer import Scorer


# Threads per stage over local files. Reading a cached file takes microseconds and decoding
# holds the GIL, so more threads only take turns at the GIL (and the kernel's futexes).
LOCAL_WORKERS = 2


def workers(storage: Storage, concurrency: int) -> int:
    """How many tasks of a stage over `storage` run at once: many for remote requests."""
    return concurrency if storage.remote else min(concurrency, LOCAL_WORKERS)


def chunk_size(storage: Storage, batch_size: int) -> int:
    """Inputs per load task: one per remote request, a batch's worth of local files."""
    return 1 if storage.remote else max(batch_size, 1)


@dataclass(frozen=True)
class Failure:
    """An input object that cannot be scored: it goes to errors.jsonl, the run goes on."""

    key: str
    code: str
    message: str


def pending(source: Iterable[Entry], done: Iterable[Entry], report: RunReport) -> Iterator[Entry]:
    """The source entries without a result yet: a merge of two listings in sorted key order.

    One pass over each listing, so resuming costs no request per input.
    """
    done_keys = iter(done)
    latest = next(done_keys, None)
    for entry in source:
        while latest is not None and latest.key < entry.key:
            latest = next(done_keys, None)
        skipped = latest is not None and latest.key == entry.key
        report.listed_one(skipped)
        if not skipped:
            yield entry
    report.listing_done()


def chunks(entries: Iterable[Entry], size: int) -> Iterator[list[Entry]]:
    """Group entries, so that one task fetches several small local files."""
    chunk: list[Entry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(
    storage: Storage, inputs: Mapping[str, tuple[int, ...]], limit: int, entry: Entry
) -> records.Record | Failure:
    """Fetch and decode one input object. A bad object is a Failure; a broken storage raises."""
    if entry.key in (".", "..") or "/" in entry.key:
        return Failure(entry.key, records.INVALID_KEY, "the key cannot name an output object")
    if entry.size is not None and entry.size > limit:
        return Failure(entry.key, records.TOO_LARGE,
                       f"the object has {entry.size} bytes, over the limit of {limit}")
    try:
        data = storage.get(entry.key, limit)
    except ObjectNotFoundError as error:
        return Failure(entry.key, records.UNREADABLE, f"the object was listed but is gone: {error}")
    try:
        return records.decode(entry.key, data, inputs, limit)
    except RecordError as error:
        return Failure(entry.key, error.code, error.message)


def load_all(
    storage: Storage, inputs: Mapping[str, tuple[int, ...]], limit: int, chunk: list[Entry]
) -> list[records.Record | Failure]:
    return [load(storage, inputs, limit, entry) for entry in chunk]


def accept(
    loaded: Iterable[list[records.Record | Failure]], report: RunReport
) -> Iterator[records.Record]:
    """Good records pass on; failures go to the report (which may end the run)."""
    for chunk in loaded:
        for item in chunk:
            if isinstance(item, Failure):
                report.failed_one(item.key, item.code, item.message)
            else:
                yield item


def score(scorer: Scorer, batch: Batch) -> Scored:
    """Run the model on one batch; the Scored carries how its outputs split per record."""
    try:
        outputs = scorer(batch.feeds)
    except ModelError:
        raise
    except Exception as error:  # ONNX Runtime raises its own untyped errors while running
        raise ModelError(
            f"the model failed on the batch of {batch.keys[0]!r}..{batch.keys[-1]!r}: {error}"
        ) from error
    return Scored(batch.keys, outputs, scorer.layouts)


def write(storage: Storage, scored: Scored) -> int:
    """Write one result object per input of a scored batch; the count written."""
    for key, data in results(scored):
        storage.put(key, data)
    return len(scored.keys)
