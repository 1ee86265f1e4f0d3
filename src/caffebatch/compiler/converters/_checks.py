"""Checks that Caffe makes in many layers' LayerSetUp and Reshape, with caffebatch's wording.

Also the one rule caffebatch adds to Caffe's: a compiled model scores each record on its
own, with any batch size, so a layer whose result ties records together (a Concat along
the batch axis, a Reduction over it, a Reshape that folds it) is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

from caffebatch.caffe.net import Layer
from caffebatch.compiler.registry import Tensor
from caffebatch.errors import LayerError

UNBOUNDED = 1 << 30  # the end of a blob-count range with no upper limit

# Blob-count ranges for expect_blob_counts
NONE = range(1)
ONE = range(1, 2)
TWO = range(2, 3)
ONE_OR_TWO = range(1, 3)
AT_LEAST_ONE = range(1, UNBOUNDED)
AT_LEAST_TWO = range(2, UNBOUNDED)

Shape = tuple[int, ...]


def refuse(layer: Layer, reason: str) -> NoReturn:
    """Raise the LayerError for `layer` with `reason`."""
    raise LayerError(layer.name, layer.type, reason)


def _describe(counts: range, what: str) -> str:
    if counts.stop >= UNBOUNDED:
        return f"at least {counts.start} {what}"
    if len(counts) == 1:
        return f"exactly {counts.start} {what}"
    return f"{counts.start} to {counts.stop - 1} {what}"


def expect_blob_counts(layer: Layer, bottoms: range, tops: range, hint: str = "") -> None:
    """Refuse `layer` unless its numbers of bottoms and tops lie in the given ranges.

    `hint` is added to the refusal (e.g. which optional top caffebatch does not support).
    """
    if len(layer.bottoms) not in bottoms:
        reason = f"takes {_describe(bottoms, 'bottom blob(s)')}, got {len(layer.bottoms)}"
    elif len(layer.tops) not in tops:
        reason = f"produces {_describe(tops, 'top blob(s)')}, got {len(layer.tops)}"
    else:
        return
    refuse(layer, f"{reason} ({hint})" if hint else reason)


def neuron_bottom(layer: Layer, inputs: list[Tensor], hint: str = "") -> Tensor:
    """The one bottom of a layer with one bottom and one top (like Caffe's NeuronLayer)."""
    expect_blob_counts(layer, bottoms=ONE, tops=ONE, hint=hint)
    return inputs[0]


def canonical_axis(layer: Layer, field: str, axis: int, ndim: int) -> int:
    """Caffe's CanonicalAxisIndex: `axis` in [-ndim, ndim), negatives counted from the end."""
    if not -ndim <= axis < ndim:
        refuse(
            layer,
            f"{field} {axis} is out of range for a {ndim}-D input: "
            f"expected {-ndim} <= {field} < {ndim}",
        )
    return axis % ndim


_MIXES_RECORDS = (
    "Caffe would mix the records of a batch, "
    "and caffebatch scores every record on its own with any batch size"
)


def refuse_batch_axis(layer: Layer, what: str, hint: str = "") -> NoReturn:
    """Refuse a layer that would work across the records of a batch (`what` it does)."""
    reason = f"{what} along axis 0, the batch axis: {_MIXES_RECORDS}"
    refuse(layer, f"{reason}; {hint}" if hint else reason)


def per_record_shape(layer: Layer, shape_rule: Callable[[Shape], Shape], bottom: Shape) -> Shape:
    """The top shape Caffe's `shape_rule` gives for `bottom`, checked to keep the batch axis.

    Caffe re-runs a layer's shape rule whenever the batch size changes. The rule is
    evaluated at the declared batch and at one record more: the top must have one row
    per record both times, with the same shape per record, or the layer ties records
    together and is refused.
    """
    declared = shape_rule(bottom)
    batch = bottom[0]
    try:
        grown: Shape | None = shape_rule((batch + 1, *bottom[1:]))
    except LayerError:
        grown = None
    keeps_batch = (
        grown is not None
        and len(declared) > 0
        and declared[0] == batch
        and grown[0] == batch + 1
        and grown[1:] == declared[1:]
    )
    if not keeps_batch:
        refuse(
            layer,
            f"the top shape {declared} for a bottom of shape {bottom} does not keep "
            f"axis 0 as the batch axis (one row per record): {_MIXES_RECORDS}",
        )
    return declared


def batch_reshape_target(shape: Sequence[int]) -> list[int]:
    """An ONNX Reshape target for `shape` that copies the (symbolic) batch axis."""
    return [0, *shape[1:]]
