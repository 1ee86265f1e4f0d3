"""One page of a long list: which rows it shows and where Previous and Next lead."""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 50


@dataclass(frozen=True)
class Pager:
    """Rows `start` .. `start + size - 1` (zero-based) of `total`."""

    start: int
    total: int
    size: int = PAGE_SIZE

    @classmethod
    def at(cls, start: int, total: int, size: int = PAGE_SIZE) -> Pager:
        """The page beginning at `start`, clamped to a row that exists (or 0 when none)."""
        last_page = max(0, (total - 1) // size * size)
        return cls(min(max(0, start), last_page), total, size)

    @property
    def first(self) -> int:
        """The page's first row, counted from 1 as people read it."""
        return self.start + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.start + self.size, self.total)

    @property
    def previous(self) -> int | None:
        return max(0, self.start - self.size) if self.start > 0 else None

    @property
    def next(self) -> int | None:
        following = self.start + self.size
        return following if following < self.total else None
