"""Caffe's greedy NMS (bbox_util.cpp's ApplyNMSFast), as an ONNX Loop over score ranks.

ONNX's NonMaxSuppression is not used: it has no adaptive threshold (eta), and ONNX
Runtime orders boxes of equal score by a heap, where Caffe keeps the lower prior index
first (a stable sort). So the candidates arrive sorted as Caffe sorts them (TopK puts the
lower index first on ties, as std::stable_sort does), and the Loop walks them in that
order for every (record, class) at once. Step i keeps candidate i when it is valid
(its score beats confidence_threshold) and no kept candidate before it overlaps it by
more than the current threshold; after each kept candidate the threshold shrinks by eta
while it is above 0.5. The Loop stops after the most valid candidates of any
(record, class), so a batch with few confident boxes takes few steps.

Every value the body reads is passed in as loop state: graph passes that look only at
node inputs would not see a value a subgraph reads from the outer scope.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.graph import GraphBuilder

_FLOAT = TensorProto.FLOAT


class _Body:
    """The nodes of the Loop body, with names from the main graph's name space."""

    def __init__(self, g: GraphBuilder, layer: Layer) -> None:
        self.g, self.layer = g, layer
        self.nodes: list[onnx.NodeProto] = []

    def name(self, what: str) -> str:
        return scratch(self.g, self.layer, f"nms_{what}")

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        output = self.name(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [output], name=output, **attributes)
        )
        return output

    def const(self, array: np.ndarray | np.generic) -> str:
        output = self.name("const")
        tensor = numpy_helper.from_array(np.asarray(array), output)
        self.nodes.append(helper.make_node("Constant", [], [output], name=output, value=tensor))
        return output


def _overlap(b: _Body, boxes: str, area: str, index: str) -> str:
    """Caffe's JaccardOverlap of candidate `index` with every candidate ([.., K])."""
    own = b.op("Gather", boxes, index, axis=2)
    larger = b.op("Max", boxes, own)
    smaller = b.op("Min", boxes, own)
    axis = b.const(np.array([3], np.int64))
    low = b.op(
        "Slice", larger, b.const(np.array([0], np.int64)), b.const(np.array([2], np.int64)), axis
    )  # the intersection's xmin, ymin
    high = b.op(
        "Slice", smaller, b.const(np.array([2], np.int64)), b.const(np.array([4], np.int64)), axis
    )  # its xmax, ymax
    sides = b.op("Sub", high, low)
    intersection = b.op("ReduceProd", sides, axis, keepdims=0)
    meets = b.op("Greater", b.op("ReduceMin", sides, axis, keepdims=0), b.const(np.float32(0)))
    union = b.op("Sub", b.op("Add", area, b.op("Gather", area, index, axis=2)), intersection)
    iou = b.op("Div", intersection, union)
    return b.op("Where", meets, iou, b.const(np.float32(0)))


def greedy_nms(
    g: GraphBuilder,
    layer: Layer,
    boxes: str,
    area: str,
    valid: str,
    nms_threshold: float,
    eta: float,
    candidates: int,
) -> str:
    """The kept mask (float 0/1, [N, C, K]) of candidates sorted by descending score.

    `boxes` is [N, C, K, 4] (xmin, ymin, xmax, ymax), `area` [N, C, K] (Caffe's BBoxSize),
    `valid` [N, C, K] (1 where the score passes confidence_threshold; a prefix of each
    row), `candidates` is K.
    """
    b = _Body(g, layer)
    step, cond = b.name("step"), b.name("cond")
    state = {key: b.name(key) for key in ("keep", "threshold", "boxes", "area", "valid")}
    index = b.op("Reshape", step, b.const(np.array([1], np.int64)))
    overlap = _overlap(b, state["boxes"], state["area"], index)
    beyond = b.op("Cast", b.op("Greater", overlap, state["threshold"]), to=_FLOAT)
    hit = b.op(
        "ReduceMax",
        b.op("Mul", beyond, state["keep"]),
        b.const(np.array([2], np.int64)),
        keepdims=1,
    )
    own_valid = b.op("Gather", state["valid"], index, axis=2)
    kept = b.op("Mul", own_valid, b.op("Sub", b.const(np.float32(1)), hit))
    at_step = b.op(
        "Cast", b.op("Equal", b.const(np.arange(candidates, dtype=np.int64)), step), to=_FLOAT
    )
    outputs = [b.op("Identity", cond), b.op("Add", state["keep"], b.op("Mul", at_step, kept))]
    threshold = state["threshold"]
    if eta < 1:
        above_half = b.op("Greater", threshold, b.const(np.float32(0.5)))
        shrinks = b.op("And", b.op("Cast", kept, to=TensorProto.BOOL), above_half)
        threshold = b.op(
            "Where", shrinks, b.op("Mul", threshold, b.const(np.float32(eta))), threshold
        )
    outputs.append(b.op("Identity", threshold))
    outputs += [b.op("Identity", state[key]) for key in ("boxes", "area", "valid")]
    body = helper.make_graph(
        b.nodes,
        f"{layer.name}_nms",
        [
            helper.make_tensor_value_info(step, TensorProto.INT64, []),
            helper.make_tensor_value_info(cond, TensorProto.BOOL, []),
            *(helper.make_tensor_value_info(state[key], _FLOAT, None) for key in state),
        ],
        [
            helper.make_tensor_value_info(outputs[0], TensorProto.BOOL, []),
            *(helper.make_tensor_value_info(name, _FLOAT, None) for name in outputs[1:]),
        ],
    )

    rows = g.op("Shape", valid, output=scratch(g, layer, "nms_rows"), start=0, end=2)
    column = g.op(
        "Concat",
        rows,
        g.ints([1], f"{layer.name}_one"),
        output=scratch(g, layer, "nms_column"),
        axis=0,
    )
    threshold0 = g.op(
        "ConstantOfShape",
        column,
        output=scratch(g, layer, "nms_threshold"),
        value=numpy_helper.from_array(np.array([nms_threshold], np.float32)),
    )
    keep0 = g.op(
        "Mul", valid, g.floats(0.0, f"{layer.name}_zero"), output=scratch(g, layer, "nms_none_kept")
    )
    per_row = g.op(
        "ReduceSum",
        valid,
        g.ints([2], f"{layer.name}_rank_axis"),
        output=scratch(g, layer, "nms_valid_count"),
        keepdims=0,
    )
    most = g.op("ReduceMax", per_row, output=scratch(g, layer, "nms_most_valid"), keepdims=0)
    steps = g.op("Cast", most, output=scratch(g, layer, "nms_steps"), to=TensorProto.INT64)
    finals = [scratch(g, layer, f"nms_final_{key}") for key in state]
    g.node("Loop", [steps, "", keep0, threshold0, boxes, area, valid], finals, body=body)
    return finals[0]
