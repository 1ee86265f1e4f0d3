"""The layers of published versions, compiled once each and kept for a while."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from caffebatch.compiler.compile import LayerInfo


class LayerCache:
    """`get(folder)`: the layers of the model package in `folder`, compiled on first use.

    A version's package never changes once published, so its folder is the key. The
    cache keeps the last `size` versions; compiling again is the price of a miss.
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._layers: OrderedDict[Path, tuple[LayerInfo, ...]] = OrderedDict()

    def get(self, folder: Path) -> tuple[LayerInfo, ...]:
        with self._lock:
            if folder in self._layers:
                self._layers.move_to_end(folder)
                return self._layers[folder]
        from caffebatch.model import load_model

        layers = load_model(folder).layers
        with self._lock:
            self._layers[folder] = layers
            while len(self._layers) > self.size:
                self._layers.popitem(last=False)
        return layers
