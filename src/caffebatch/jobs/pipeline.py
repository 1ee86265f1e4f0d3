"""The steps of a run, as plain functions over plain values and generators.

    pending(source, target) ─► load (fetch + decode) ─► batches ─► score ─► write

`executors.chunked.ChunkWorker` strings load, score and write together over a chunk of
entries; the executors decide where and how many chunks run at once (see executors/).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caffebatch.errors import ModelError, ObjectNotFoundError, RecordError
from caffebatch.inputs import formats
from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs import records
from caffebatch.jobs.batches import Batch, Scored
from caffebatch.jobs.storage import Entry, Storage

if TYPE_CHECKING:
    from caffebatch.jobs.report import RunReport
    from caffebatch.runtime.scorer import Scorer

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Failure:
    """An input object that cannot be scored: it goes to errors.jsonl, the run goes on."""

    key: str
    code: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What one chunk came to: results written, and the inputs that failed (in key order)."""

    written: int
    failures: tuple[Failure, ...]


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


def load(storage: Storage, inputs: InputSpec, limit: int, entry: Entry) -> records.Record | Failure:
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
        return formats.decode(entry.key, data, inputs, limit)
    except RecordError as error:
        return Failure(entry.key, error.code, error.message)


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


def write(storage: Storage, result: tuple[str, bytes]) -> None:
    """Write one result object."""
    storage.put(*result)
