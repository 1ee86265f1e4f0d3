"""Graph-level rewrites of a compiled model, run in order after the converters.

Converters see one layer each; what pays across layers (folding BatchNorm and Scale
into the convolution before them) is a pass here. A pass takes a `GraphView` and
rewrites its graph in place; every pass keeps the model's outputs the same, up to
float rounding. BENCHMARKS.md records what each one gains.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx

from caffebatch.compiler.passes.fold_affine import fold_affine_into_conv
from caffebatch.compiler.passes.graph_view import GraphView

Pass = Callable[[GraphView], None]

PASSES: tuple[Pass, ...] = (fold_affine_into_conv,)


def optimize(model: onnx.ModelProto, passes: tuple[Pass, ...] = PASSES) -> onnx.ModelProto:
    """Apply `passes` to `model` in order, in place (the weights are not copied); returns it."""
    view = GraphView(model.graph)
    for rewrite in passes:
        rewrite(view)
    view.finish()
    return model
