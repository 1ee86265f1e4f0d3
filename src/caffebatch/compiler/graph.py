"""GraphBuilder: the small surface converters use to add ONNX nodes and weights."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from caffebatch.compiler import layouts
from caffebatch.errors import NetError
from caffebatch.naming import UniqueNames

OPSET = 21
BATCH = layouts.BATCH_AXIS  # the symbolic name of the batch axis in the compiled model


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs, then builds one ModelProto."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self._names = UniqueNames()
        self._node_names = UniqueNames()  # ONNX Runtime wants unique node names; a separate space

    def fresh(self, hint: str) -> str:
        """A name no other value in the graph has, derived from `hint`."""
        return self._names.take(hint)

    def reserve(self, names: Iterable[str]) -> None:
        """Keep `names` (the net's blobs) from being handed out by `fresh`."""
        self._names.reserve(names)

    def input(self, name: str, shape: Sequence[int]) -> None:
        """Declare a float32 graph input; its first axis becomes the symbolic batch axis."""
        self._names.reserve([name])
        dims: list[int | str] = [BATCH, *shape[1:]] if shape else []
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))

    def initializer(self, array: np.ndarray, hint: str) -> str:
        """Add a constant weight tensor; returns its name."""
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ints(self, values: Iterable[int], hint: str) -> str:
        """An int64 1-D constant, for shape, axes and index inputs."""
        return self.initializer(np.asarray(list(values), dtype=np.int64), hint)

    def floats(self, values: float | Sequence[float] | np.ndarray, hint: str) -> str:
        """A float32 constant (a scalar when `values` is a number)."""
        return self.initializer(np.asarray(values, dtype=np.float32), hint)

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str] | str | None = None,
        **attributes: Any,
    ) -> list[str]:
        """Add one node. `outputs` names its outputs; by default one fresh name."""
        if outputs is None:
            outputs = [self.fresh(op_type.lower())]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self._names.reserve(outputs)
        node_name = self._node_names.take(outputs[0])
        self.nodes.append(
            helper.make_node(op_type, list(inputs), list(outputs), name=node_name, **attributes)
        )
        return list(outputs)

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: Any) -> str:
        """Add a single-output node and return its output name."""
        return self.node(op_type, inputs, output, **attributes)[0]

    def build(
        self,
        outputs: Sequence[tuple[str, str, Sequence[int]]],
        name: str,
        output_layouts: Mapping[str, str] | None = None,
    ) -> onnx.ModelProto:
        """The model computing `outputs`: (graph output name, value name, shape) triples.

        `output_layouts` gives the `layouts` of outputs whose first axis is not the batch
        axis; they are declared with their own dims and recorded in the model's metadata.

        Nodes that no output needs are left out. An output whose name differs from
        its value gets an Identity node. When that name is already taken by an inner
        value (Caffe's blob ``bn1`` rewritten in place by a Scale: the output ``bn1`` is
        the scaled value), the inner value is renamed.
        """
        renames = {
            out_name: self.fresh(f"{out_name}.inner")
            for out_name, value, _ in outputs
            if out_name != value and out_name in self._names
        }
        clashing = [i.name for i in self.inputs if i.name in renames]
        if clashing:
            raise NetError(f"output name(s) {clashing} name an input too, but mean another value")
        nodes = [_renamed(node, renames) for node in self.nodes]
        output_infos = []
        for out_name, value, shape in outputs:
            value = renames.get(value, value)
            if out_name != value:
                node_name = self._node_names.take(out_name)
                nodes.append(helper.make_node("Identity", [value], [out_name], name=node_name))
            layout = (output_layouts or {}).get(out_name, layouts.BATCH)
            dims = layouts.graph_dims(layout, shape)
            output_infos.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, dims))
        nodes = _needed(nodes, [o[0] for o in outputs])
        used = {i for node in nodes for i in node.input}
        graph = helper.make_graph(
            nodes,
            name,
            [i for i in self.inputs],
            output_infos,
            initializer=[t for t in self.initializers if t.name in used],
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="caffebatch",
        )
        model.ir_version = 10
        layouts.write(model, output_layouts or {})
        return model


def _renamed(node: onnx.NodeProto, renames: dict[str, str]) -> onnx.NodeProto:
    if not renames or not any(n in renames for n in (*node.input, *node.output)):
        return node
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.input[:] = [renames.get(n, n) for n in node.input]
    copy.output[:] = [renames.get(n, n) for n in node.output]
    return copy


def _needed(nodes: list[onnx.NodeProto], outputs: list[str]) -> list[onnx.NodeProto]:
    """The nodes that the outputs depend on, in their original order."""
    wanted = set(outputs)
    keep = []
    for node in reversed(nodes):
        if any(o in wanted for o in node.output):
            keep.append(node)
            wanted.update(i for i in node.input if i)
    return list(reversed(keep))
