"""The steps of a run, as plain functions over plain values and generators.

    pending(source, target) ─► load (fetch + decode) ─► batches ─► score ─► write

`executors.chunked.ChunkWorker` strings load, score and write together over a chunk of
entries; the executors decide where and how many chunks run at once (see executors/).

An object that holds many records (JSON Lines) loads as a `Group`: its records are batched
with the others, and `Grouper` holds their results until the last one is scored, then
writes them as one object. A group is loaded, scored and written by one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from caffebatch.errors import ModelError, ObjectError, ObjectNameError, RecordError
from caffebatch.inputs import formats
from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs import records
from caffebatch.jobs.batches import Batch, Scored, result_lines
from caffebatch.jobs.storage import Entry, Storage

if TYPE_CHECKING:
    from caffebatch.jobs.report import RunReport
    from caffebatch.runtime.scorer import Scorer

DONE = "done"  # the skip reason of an input whose complete result is in the target already

Feeds = dict[str, np.ndarray]

LARGEST_RESULT = 1 << 31  # an earlier result of a group is read whole


@dataclass(frozen=True)
class Failure:
    """An input object that cannot be scored: it goes to errors.jsonl, the run goes on."""

    key: str
    code: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What one chunk came to: records scored and written, and those that failed (in key
    order). `done`: records of groups whose results an earlier attempt wrote (skipped);
    `expanded`: how many more records than listed entries the chunk's groups held."""

    written: int
    failures: tuple[Failure, ...]
    done: int = 0
    expanded: int = 0


@dataclass(frozen=True)
class Group:
    """The records of one object that holds many, as loaded for a chunk.

    `order`: every record's key in input order; `records`: those to score now; `kept`: the
    result lines an earlier attempt wrote for the others (they are not scored again).
    """

    key: str
    order: tuple[str, ...]
    records: tuple[records.Record, ...]
    failures: tuple[Failure, ...]
    kept: Mapping[str, bytes] = field(default_factory=dict)


Loaded = records.Record | Failure | Group


def pending(source: Iterable[Entry], done: Iterable[Entry], report: RunReport) -> Iterator[Entry]:
    """The source entries without a result yet: a merge of two listings in sorted key order.

    One pass over each listing. `done` lists the complete results (see jobs/resume.py); what
    the source lists that is not an input is counted as skipped with its reason.
    """
    done_keys = (entry for entry in done if entry.skip is None)
    latest = next(done_keys, None)
    for entry in source:
        if entry.skip is not None:  # not an input: counted, never read
            report.listed_one(entry.key, entry.skip)
            continue
        while latest is not None and latest.key < entry.key:
            latest = next(done_keys, None)
        if latest is not None and latest.key == entry.key:
            report.listed_one(entry.key, DONE)
        else:
            report.listed_one(entry.key)
            yield entry
    report.listing_done()


def load(source: Storage, target: Storage, inputs: InputSpec, limit: int,
         entry: Entry) -> Loaded:
    """Fetch and decode one input object. A bad object is a Failure; a broken storage raises.

    Bad objects are bad records: one whose name cannot be an input's or its result's, one
    the source will not hand over (an ObjectError, with its code), one that does not decode.
    `limit` is a record's size limit; an object whose format has its own is read under that.
    """
    try:
        if entry.bad_name is not None:
            raise ObjectNameError(entry.bad_name)
        target.check_name(entry.key)
        limit = formats.object_limit(entry.key, inputs, limit)
        if entry.size is not None and entry.size > limit:
            return Failure(entry.key, records.TOO_LARGE,
                           f"the object has {entry.size} bytes, over the limit of {limit}")
        data = source.get(entry.key, limit)
    except ObjectError as error:  # this object only: the run goes on
        return Failure(entry.key, error.code, error.message)
    try:
        loaded = formats.decode(entry.key, data, inputs, limit)
    except RecordError as error:
        return Failure(entry.key, error.code, error.message)
    if isinstance(loaded, formats.Lines):
        return _group(loaded, _earlier_lines(target, loaded.key))
    return loaded


def _earlier_lines(target: Storage, key: str) -> dict[str, bytes]:
    """The whole result lines an earlier attempt wrote for group `key` (none yet: empty)."""
    try:
        return result_lines(key, target.get(key, LARGEST_RESULT))
    except ObjectError:  # none yet, or unreadable: every record is scored (again)
        return {}


def _group(lines: formats.Lines, earlier: Mapping[str, bytes]) -> Group:
    # A record with a result already is done, as a plain input with its result is.
    kept = {key: earlier[key] for key in lines.order if key in earlier}
    return Group(
        lines.key, lines.order,
        tuple(record for record in lines.records if record.key not in kept),
        tuple(Failure(key, error.code, error.message)
              for key, error in lines.errors if key not in kept),
        kept,
    )


class Grouper:
    """Sends each result on to be written, or holds it until its group's last one is scored.

    Each item out is (object key, bytes, records in it scored now); a group's object has one
    line per record with a result, in input order, kept lines included.
    """

    def __init__(self, groups: Iterable[Group]) -> None:
        self._group_of = {record.key: group for group in groups for record in group.records}
        self._held: dict[str, dict[str, bytes]] = {}

    def add(self, results: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, bytes, int]]:
        for key, data in results:
            group = self._group_of.get(key)
            if group is None:
                yield key, data, 1
                continue
            held = self._held.setdefault(group.key, {})
            held[key] = data
            if len(held) == len(group.records):
                del self._held[group.key]
                yield group.key, _joined(group, held), len(held)


def _joined(group: Group, scored: Mapping[str, bytes]) -> bytes:
    lines = (scored.get(key) or group.kept.get(key) for key in group.order)
    return b"".join(line + b"\n" for line in lines if line is not None)


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


def write(storage: Storage, result: tuple[str, bytes, int]) -> int:
    """Write one result object; the records it scored."""
    key, data, count = result
    storage.put(key, data)
    return count
