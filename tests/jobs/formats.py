"""Byte-level checks of result objects against DESIGN.md's output format."""

from __future__ import annotations

import json
import re

import numpy as np

NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def significant_digits(text: str) -> str:
    mantissa = re.split("[eE]", text.lstrip("-"))[0].replace(".", "")
    return mantissa.strip("0") or "0"


def check_result(key: str, data: bytes, expected: np.ndarray, output: str = "prob") -> None:
    """`data` is exactly ``{"key":{"prob":[v,...]}}``: compact, float32, shortest round-trip."""
    document = json.loads(data)
    assert list(document) == [key] and list(document[key]) == [output]
    head = json.dumps({key: {output: []}}, separators=(",", ":")).encode()[:-3]
    assert data.startswith(head) and data.endswith(b"]}}"), data[:80]
    tokens = data[len(head):-3].split(b",")
    assert len(tokens) == expected.size
    for token in tokens:
        assert NUMBER.fullmatch(token), token
        value = np.float32(token.decode())
        shortest = np.format_float_scientific(value, unique=True)
        assert significant_digits(token.decode()) == significant_digits(shortest), token
    values = np.array([float(t) for t in tokens], dtype=np.float32)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(values, expected.ravel(), rtol=1e-4, atol=1e-5 * scale)
