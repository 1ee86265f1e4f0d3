"""The records-per-second chart of a run, as the numbers an inline SVG draws (no script)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 160
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 24  # room for the axes' labels


@dataclass(frozen=True)
class Chart:
    """Points in the SVG's own units (y grows down), and what the axes' ends stand for."""

    points: tuple[tuple[float, float], ...]
    seconds: float      # the x axis ends here
    peak: float         # and the y axis here, records per second
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)

    @property
    def left(self) -> int:
        return LEFT

    @property
    def baseline(self) -> int:
        return HEIGHT - BOTTOM


def rate_chart(rates: Sequence[tuple[float, float]]) -> Chart | None:
    """The chart of (seconds since start, records per second); None when there is nothing."""
    if not rates:
        return None
    seconds = max(t for t, _ in rates) or 1.0
    peak = max(r for _, r in rates) or 1.0
    across, up = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = tuple((LEFT + across * t / seconds, TOP + up * (1 - r / peak)) for t, r in rates)
    return Chart(points, seconds, peak)
