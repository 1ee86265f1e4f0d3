"""JSON Lines input objects: an object named ``*.jsonl`` holds one record per line.

Each non-blank line is a record, the seed's JSON object, keyed ``<key>#<line>`` (lines count
from 1, blank ones too, so the number is the line an editor shows). A bad line is that
record's error; the others are scored. Their results go back into one object of the same
name, one line per scored record in input order (pipeline.Grouper), and a rerun keeps the
lines that are there and scores the rest (batches.result_lines).
"""

from __future__ import annotations

from caffebatch.errors import RecordError
from caffebatch.inputs.formats import Lines, input_format
from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs import records
from caffebatch.jobs.batches import line_key

SUFFIX = ".jsonl"

# The stable error code of errors.jsonl for an object with too many lines (docs/batch-runs.md).
TOO_MANY_LINES = "too_many_lines"


def _is_text(data: bytes) -> bool:
    # Text, as far as a glance tells: UTF-16 and binary files have NULs early on, and are
    # then decoded (and refused) as one JSON object, with that object's code.
    return b"\x00" not in data[:256]


def _limit(spec: InputSpec) -> int:
    return spec.max_jsonl_bytes


@input_format("jsonl", _is_text, suffix=SUFFIX, limit=_limit, many=True)
def decode_lines(key: str, data: bytes, spec: InputSpec) -> Lines:
    """The records of JSON Lines object `key`; RecordError when it holds none or too many."""
    lines = data.split(b"\n")
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise RecordError(records.EMPTY, "the object has no records: its lines are all blank")
    if len(numbered) > spec.max_jsonl_lines:
        raise RecordError(
            TOO_MANY_LINES,
            f"the object holds {len(numbered)} records (non-blank lines), over the limit of "
            f"{spec.max_jsonl_lines}; split it",
        )
    order, good, bad = [], [], []
    for number, line in numbered:
        name = line_key(key, number)
        order.append(name)
        try:
            good.append(records.decode(name, line, spec.shapes, len(line)))
        except RecordError as error:
            bad.append((name, error))
    return Lines(key, tuple(order), tuple(good), tuple(bad))
