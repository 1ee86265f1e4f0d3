"""Caffe's blob bookkeeping while a net is built: unique value names and the in-place rules.

Caffe lets a layer write its top over its bottom ("in place"), so one blob name stands for
several values in turn; `BlobGraph` gives each value a unique name and refuses what Caffe's
Net::AppendBottom / AppendTop and insert_splits refuse.
"""

from __future__ import annotations

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import NetError
from caffebatch.naming import UniqueNames


class BlobGraph:
    """Caffe's blob bookkeeping (Net::AppendBottom/AppendTop and insert_splits).

    Each value a blob takes gets a unique name. Caffe inserts a Split layer wherever a
    value has several readers; an in-place layer on such a value then writes a blob that
    already exists, which Caffe refuses ("produced by multiple sources"). So the readers
    of every value are counted, and `check` refuses in-place writes on shared values.
    """

    def __init__(self) -> None:
        self.latest: dict[str, str] = {}  # Caffe blob -> its current value
        self.readers: dict[str, list[str]] = {}  # value -> layers that read it
        self.dropped: dict[str, str] = {}  # value -> training-only layer that produced it
        self.in_place: list[tuple[str, str, str]] = []  # (layer, blob, value overwritten)
        self.names = UniqueNames()

    def add(
        self, param: caffe_pb2.LayerParameter, training_only: bool = False
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Record one layer; its bottoms and tops as unique value names.

        The tops of a `training_only` layer (dropped from the scoring net) may only be
        read by other training-only layers.
        """
        bottoms = tuple(
            self._read(param, index, blob, training_only) for index, blob in enumerate(param.bottom)
        )
        tops = tuple(
            self._write(param, index, blob, bottoms) for index, blob in enumerate(param.top)
        )
        if training_only:
            self.dropped.update((value, f"{param.name!r} ({param.type})") for value in tops)
        return bottoms, tops

    def _read(
        self, param: caffe_pb2.LayerParameter, index: int, blob: str, training_only: bool
    ) -> str:
        if blob not in self.latest:
            raise NetError(
                f"layer {param.name!r} ({param.type}): unknown bottom blob {blob!r} "
                f"(bottom {index}); no earlier layer or input produces it"
            )
        value = self.latest[blob]
        if value in self.dropped and not training_only:
            raise NetError(
                f"layer {param.name!r} ({param.type}) reads blob {blob!r}, which comes from "
                f"training-only layer {self.dropped[value]}; scoring drops that layer, so declare "
                f"{blob!r} with an Input layer"
            )
        self.readers.setdefault(value, []).append(param.name)
        return value

    def _write(
        self, param: caffe_pb2.LayerParameter, index: int, blob: str, bottoms: tuple[str, ...]
    ) -> str:
        # Caffe treats a top as in place only when it is the bottom at the same index.
        if index < len(param.bottom) and param.bottom[index] == blob:
            self.in_place.append((param.name, blob, bottoms[index]))
            value = self.names.take(f"{blob}@{param.name}")
        elif blob in self.latest:
            raise NetError(
                f"layer {param.name!r} ({param.type}): top blob {blob!r} is already produced "
                "by an earlier layer or input (Caffe: produced by multiple sources); "
                "give it a new name"
            )
        else:
            value = self.names.take(blob)
        self.latest[blob] = value
        return value

    def check(self) -> None:
        """Refuse in-place writes on values that several layers read (call after the last add)."""
        for layer, blob, value in self.in_place:
            others = [reader for reader in self.readers[value] if reader != layer]
            if len(self.readers[value]) > 1:
                also = f"layer(s) {others} also read it" if others else "it reads that blob twice"
                raise NetError(
                    f"layer {layer!r} works in place on blob {blob!r}, but {also}; Caffe "
                    f"refuses this (top blob {blob!r} produced by multiple sources): give the "
                    "in-place layer a top of its own"
                )

    def latest_kept(self) -> dict[str, str]:
        """Each Caffe blob's last value, leaving out the values of training-only layers."""
        return {blob: value for blob, value in self.latest.items() if value not in self.dropped}
