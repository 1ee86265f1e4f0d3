"""GraphView: who produces and who reads each value of an ONNX graph, and its constants.

Passes rewrite a graph in place through this view; `finish`, called once after them,
drops the initializers that no node reads any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from caffebatch.naming import UniqueNames


class GraphView:
    """An editable view of `graph`: nodes by the values they read, constants as arrays."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.outputs = {o.name for o in graph.output}
        self._initializers = {t.name: t for t in graph.initializer}
        self._arrays: dict[str, np.ndarray] = {}
        self._readers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in dict.fromkeys(node.input):
                self._readers.setdefault(name, []).append(node)
        self._names = UniqueNames(
            set(self._initializers)
            | {i.name for i in graph.input}
            | {o for n in graph.node for o in n.output}
        )

    def consumers(self, value: str) -> list[onnx.NodeProto]:
        """The nodes that read `value`."""
        return list(self._readers.get(value, ()))

    def sole_consumer(self, value: str) -> onnx.NodeProto | None:
        """The one node that reads `value`, when nothing else (nor a graph output) does."""
        if value in self.outputs:
            return None
        readers = self.consumers(value)
        return (
            readers[0] if len(readers) == 1 and list(readers[0].input).count(value) == 1 else None
        )

    def constant(self, value: str) -> np.ndarray | None:
        """The array of an initializer, or None when `value` is computed."""
        if value not in self._initializers:
            return None
        if value not in self._arrays:
            self._arrays[value] = numpy_helper.to_array(self._initializers[value])
        return self._arrays[value]

    def add_constant(self, array: np.ndarray, hint: str) -> str:
        """A new initializer holding `array`, under a name no value has yet."""
        name = self._names.take(hint)
        # Filled in place: appending a finished TensorProto would copy the weights again
        tensor = self.graph.initializer.add(
            name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype)
        )
        tensor.dims.extend(array.shape)
        tensor.raw_data = np.ascontiguousarray(array).tobytes()
        self._initializers[name] = tensor
        self._arrays[name] = array
        return name

    def set_input(self, node: onnx.NodeProto, index: int, value: str) -> None:
        """Make input `index` of `node` read `value` (or append it, at the end)."""
        if index < len(node.input):
            old = node.input[index]
            node.input[index] = value
            if old not in node.input:
                self._readers[old] = [n for n in self._readers.get(old, []) if n is not node]
        else:
            node.input.append(value)
        self._readers.setdefault(value, []).append(node)

    def remove(self, node: onnx.NodeProto) -> None:
        """Remove `node`; what it wrote must no longer be read."""
        for name in dict.fromkeys(node.input):
            self._readers[name] = [n for n in self._readers[name] if n is not node]
        self.graph.node.remove(node)

    def finish(self) -> None:
        """Drop initializers and value infos that nothing refers to any more."""
        used = {i for n in self.graph.node for i in n.input} | self.outputs
        _delete_where(self.graph.initializer, lambda t: t.name not in used)
        produced = {o for n in self.graph.node for o in n.output}
        _delete_where(self.graph.value_info, lambda v: v.name not in produced)


def _delete_where(items: Any, unwanted: Callable[[Any], bool]) -> None:
    """Delete in place (rebuilding a repeated field would copy every weight)."""
    for index in reversed(range(len(items))):
        if unwanted(items[index]):
            del items[index]
