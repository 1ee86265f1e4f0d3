"""Helpers shared by the spatial and weighted converters: blob counts, axes, window sizes.

Each helper checks what Caffe's ``LayerSetUp``/``Reshape`` would check and raises
`LayerError` naming the field, what was expected and what came (the checks common to
all converters are in `_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import refuse
from caffebatch.compiler.graph import GraphBuilder


def expect_blobs(layer: Layer, count: int) -> None:
    """Refuse weights with more blobs than the layer's parameters call for."""
    if len(layer.blobs) > count:
        refuse(layer, f"the weights hold {len(layer.blobs)} blobs, expected {count}")


def per_axis(
    layer: Layer,
    field: str,
    repeated: Sequence[int],
    h: tuple[bool, int],
    w: tuple[bool, int],
    default: int | None,
    axes: int,
) -> tuple[int, ...]:
    """A convolution size read like Caffe: `field` once or once per spatial axis, or _h and _w.

    `h` and `w` are (is set, value) of the ``<field>_h``/``<field>_w`` fields; a None
    `default` means the field is required.
    """
    if h[0] or w[0]:
        if axes != 2:
            refuse(
                layer,
                f"{field}_h and {field}_w can only be used for 2-D convolution, "
                f"this input has {axes} spatial axes",
            )
        if repeated:
            refuse(layer, f"set either {field} or {field}_h and {field}_w, not both")
        return (h[1], w[1])
    if len(repeated) == 0:
        if default is None:
            refuse(layer, f"{field} is required (once, or once per spatial axis)")
        return (default,) * axes
    if len(repeated) == 1:
        return (int(repeated[0]),) * axes
    if len(repeated) != axes:
        refuse(
            layer,
            f"{field} must be given once or once per spatial axis ({axes}), "
            f"it is given {len(repeated)} times",
        )
    return tuple(int(v) for v in repeated)


def scratch(g: GraphBuilder, layer: Layer, what: str) -> str:
    """A fresh name for an intermediate value of `layer`.

    Derived from the layer's name, so that it does not take a name that a later Caffe
    blob needs (GraphBuilder only knows the names added so far).
    """
    return g.fresh(f"{layer.name}__{what}")
