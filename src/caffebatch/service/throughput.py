"""Records per second over a run: a bounded series of (seconds since start, scored) samples.

The worker adds a sample each time it saves progress and keeps the series in the stored
status details (`throughput`), so any page can draw it while the run goes and after. When
the series is full every other sample is dropped, so it spans the whole run at half the
resolution rather than growing with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

MAX_SAMPLES = 120
KEY = "throughput"  # the stored progress's key


class Throughput:
    """The samples of one run, thinned to at most `size`."""

    def __init__(self, size: int = MAX_SAMPLES) -> None:
        self.size = size
        self.samples: list[tuple[float, int]] = [(0.0, 0)]

    def add(self, seconds: float, scored: int) -> None:
        self.samples.append((round(seconds, 3), scored))
        if len(self.samples) > self.size:
            self.samples = self.samples[:-1:2] + self.samples[-1:]

    def to_json(self) -> list[list[float]]:
        return [[t, n] for t, n in self.samples]


def rates(progress: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(seconds since start, records per second since the sample before), from stored progress."""
    samples = [(float(t), float(n)) for t, n in progress.get(KEY) or ()]
    return [(t, (n - n0) / (t - t0)) for (t0, n0), (t, n) in pairwise(samples) if t > t0]
