"""What counts as done on a rerun: a complete result for its input, nothing less.

A result is written whole (a local rename after fsync, an S3 PUT), so a damaged one comes
from elsewhere: a planted or copied file, a disk that filled, a tool that truncated it. A
result counts only when it is not empty, starts with the one key of its input
(``{"<key>":{``) and ends where the object closes (``}}``); anything else is scored again
and overwritten. That costs one read per existing result, many in flight at once, and no
parse: enough to catch an empty, cut-off or foreign object without decoding large outputs.

A JSON Lines object's result is never done here: it may hold some of its lines only, so the
run loads the object and its worker keeps the whole result lines that are there
(pipeline.load).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import orjson

from caffebatch.errors import ObjectError
from caffebatch.inputs import formats
from caffebatch.jobs.batches import chunked
from caffebatch.jobs.storage import Entry, Storage

WINDOW = 256                      # existing results checked at once (listing order is kept)
LARGEST_RESULT = 1 << 31          # a result is read whole to see its end


def is_complete(key: str, data: bytes) -> bool:
    """Whether `data` is a whole result object of input `key` (see the module's docstring)."""
    head = b"{" + orjson.dumps(key) + b":{"
    return data.startswith(head) and data.rstrip().endswith(b"}}")


def complete_results(target: Storage, listing: Iterable[Entry], workers: int) -> Iterator[Entry]:
    """The entries of `listing` (the target's) that are complete results, in listing order.

    Entries that are not results (the run folder, other nested prefixes) pass through as
    they are, so `pipeline.pending` sees one sorted listing.
    """
    with ThreadPoolExecutor(max(workers, 1), thread_name_prefix="resume") as pool:
        for window in chunked(listing, WINDOW):
            for entry, complete in zip(window, pool.map(partial(_complete, target), window), strict=True):
                if complete:
                    yield entry


def _complete(target: Storage, entry: Entry) -> bool:
    if entry.skip is not None or entry.bad_name is not None:
        return True  # not a result: pending passes it by
    if entry.size == 0 or formats.groups(entry.key):
        return False  # a JSON Lines result may hold some lines only: its worker sees which
    try:
        return is_complete(entry.key, target.get(entry.key, LARGEST_RESULT))
    except ObjectError:  # unreadable, or gone since listed: score it again
        return False
