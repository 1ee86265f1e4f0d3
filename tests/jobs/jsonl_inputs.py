"""JSON Lines inputs made from the example digits, with bad lines of known codes."""

from __future__ import annotations

import json

from tests.jobs.conftest import DIGITS

# A bad line -> its code (each is one JSON Lines record)
BAD_LINES: dict[bytes, str] = {
    b"[]": "not_an_object",
    b'{"data": [1, 2]}': "wrong_shape",
    b"not json": "invalid_json",
    b'{"data": "x"}': "wrong_shape",
}


def digit_line(index: int) -> bytes:
    """Digit `index` of examples/digits as one line."""
    document = json.loads((DIGITS / f"digit_{index:03d}.json").read_bytes())
    return json.dumps(document, separators=(",", ":")).encode()


def jsonl(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)
