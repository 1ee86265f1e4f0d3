"""The stages of a run, as plain functions over plain values and generators.

    pending(source, target) ─► load (fetch + decode) ─► accept ─► batches ─► score ─► write

Executors decide where and how concurrently each stage runs (see executors/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from caffebatch.errors import ModelError, ObjectError, ObjectNameError, RecordError
from caffebatch.jobs import records
from caffebatch.jobs.batches import Batch, Scored, results
from caffebatch.jobs.report import RunReport
from caffebatch.jobs.storage import Entry, Storage


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
    done_keys = (entry for entry in done if entry.skip is None)
    latest = next(done_keys, None)
    for entry in source:
        if entry.skip is not None:  # not an input (issue 10: count it as skipped, by reason)
            continue
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
    source: Storage, target: Storage, inputs: Mapping[str, tuple[int, ...]], limit: int,
    entry: Entry,
) -> records.Record | Failure:
    """Fetch and decode one input object. A bad object is a Failure; a broken storage raises.

    Bad objects are bad records: one whose name cannot be an input's or its result's, one
    the source will not hand over (an ObjectError, with its code), one that does not decode.
    """
    try:
        if entry.bad_name is not None:
            raise ObjectNameError(entry.bad_name)
        target.check_name(entry.key)
        if entry.size is not None and entry.size > limit:
            return Failure(entry.key, records.TOO_LARGE,
                           f"the object has {entry.size} bytes, over the limit of {limit}")
        data = source.get(entry.key, limit)
    except ObjectError as error:  # this object only: the run goes on
        return Failure(entry.key, error.code, error.message)
    try:
        return records.decode(entry.key, data, inputs, limit)
    except RecordError as error:
        return Failure(entry.key, error.code, error.message)


def load_all(
    source: Storage, target: Storage, inputs: Mapping[str, tuple[int, ...]], limit: int,
    chunk: list[Entry],
) -> list[records.Record | Failure]:
    return [load(source, target, inputs, limit, entry) for entry in chunk]


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


def score(scorer: Callable[[dict], dict], batch: Batch) -> Scored:
    """Run the model on one batch."""
    try:
        outputs = scorer(batch.feeds)
    except ModelError:
        raise
    except Exception as error:  # ONNX Runtime raises its own untyped errors while running
        raise ModelError(
            f"the model failed on the batch of {batch.keys[0]!r}..{batch.keys[-1]!r}: {error}"
        ) from error
    return Scored(batch.keys, outputs)


def write(storage: Storage, scored: Scored) -> int:
    """Write one result object per input of a scored batch; the count written."""
    for key, data in results(scored):
        storage.put(key, data)
    return len(scored.keys)
