"""GraphView: who produces and who reads each value of an ONNX graph, and its constants.

Passes rewrite a graph in place through this view, then call `finish` once, which
drops the initializers that no node reads any more.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


class GraphView:
    """An editable view of `graph`: nodes by the values they read, constants as arrays."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.outputs = {o.name for o in graph.output}
        self._initializers = {t.name: t for t in graph.initializer}
        self._arrays: dict[str, np.ndarray] = {}

    def consumers(self, value: str) -> list[onnx.NodeProto]:
        """The nodes that read `value`."""
        return [n for n in self.graph.node if value in n.input]

    def sole_consumer(self, value: str) -> onnx.NodeProto | None:
        """The one node that reads `value`, when nothing else (nor a graph output) does."""
        if value in self.outputs:
            return None
        readers = self.consumers(value)
        return readers[0] if len(readers) == 1 and list(readers[0].input).count(value) == 1 else None

    def constant(self, value: str) -> np.ndarray | None:
        """The array of an initializer, or None when `value` is computed."""
        if value not in self._initializers:
            return None
        if value not in self._arrays:
            self._arrays[value] = numpy_helper.to_array(self._initializers[value])
        return self._arrays[value]

    def add_constant(self, array: np.ndarray, hint: str) -> str:
        """A new initializer holding `array`, under a name no value has yet."""
        taken = {t.name for t in self.graph.initializer} | {o for n in self.graph.node for o in n.output}
        name, counter = hint, 0
        while name in taken:
            counter += 1
            name = f"{hint}_{counter}"
        tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.graph.initializer.append(tensor)
        self._initializers[name] = tensor
        self._arrays[name] = array
        return name

    def remove(self, node: onnx.NodeProto) -> None:
        self.graph.node.remove(node)

    def finish(self) -> None:
        """Drop initializers and value infos that nothing refers to any more."""
        used = {i for n in self.graph.node for i in n.input} | self.outputs
        kept = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)
        produced = {o for n in self.graph.node for o in n.output}
        infos = [v for v in self.graph.value_info if v.name in produced]
        del self.graph.value_info[:]
        self.graph.value_info.extend(infos)
