"""UniqueNames: the one way caffebatch makes names unique (blob values, ONNX values and nodes).

A name is handed out as asked when it is free, else with the first free ``#2``, ``#3``...
suffix: ``relu``, ``relu#2``. Names are never given back, so each hint remembers where its
search stopped, and building a graph of n same-named values stays linear.
"""

from __future__ import annotations

from collections.abc import Iterable


class UniqueNames:
    """A set of taken names that hands out new ones."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = set(taken)
        self._next_suffix: dict[str, int] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._taken

    def reserve(self, names: Iterable[str]) -> None:
        """Mark `names` as taken (they are used as they are, e.g. the net's own blob names)."""
        self._taken.update(names)

    def take(self, hint: str) -> str:
        """A name nobody has taken, derived from `hint`, now taken."""
        name = hint
        suffix = self._next_suffix.get(hint, 2)
        while name in self._taken:
            name = f"{hint}#{suffix}"
            suffix += 1
        self._next_suffix[hint] = suffix
        self._taken.add(name)
        return name
