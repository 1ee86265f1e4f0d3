"""Executors schedule the pipeline's stage functions: locally with threads, or elsewhere.

A stage is ``map(fn, items, workers=n)``: apply `fn` to every item with up to `n` at work,
yielding results as they finish (in any order) with a bounded number in flight. The stage
functions are plain functions over plain values, so any executor can run them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class Executor(Protocol):
    def map(self, fn: Callable[[A], B], items: Iterable[A], *, workers: int) -> Iterator[B]:
        """`fn` over `items`, unordered, at most `workers` at once, bounded read-ahead."""
        ...

    def stopped(self) -> bool:
        """Whether the run was cancelled or has failed, so every stage should wind down."""
        ...

    def stop(self) -> None:
        """Ask every stage to wind down."""
        ...
