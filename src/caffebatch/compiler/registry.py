"""The table of layer converters, keyed by Caffe layer type.

A converter is a plain function that sees one layer and nothing else::

    @converts("Pooling")
    def pooling(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
        ...

It reads its parameters from ``layer.param`` (so protobuf's defaults are Caffe's),
checks them against the input shapes the way Caffe's ``Reshape`` would, adds ONNX
nodes through `g` whose outputs are named ``layer.tops``, and returns one `Tensor`
(name and shape, batch axis first) per top. Refusals raise `LayerError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from caffebatch.compiler.layouts import BATCH

if TYPE_CHECKING:
    from caffebatch.caffe.net import Layer
    from caffebatch.compiler.graph import GraphBuilder


class Tensor(NamedTuple):
    """A value in the graph: its unique name, its shape as Caffe infers it, and how its
    values belong to the records of a batch (a `caffebatch.compiler.layouts` name)."""

    name: str
    shape: tuple[int, ...]
    layout: str = BATCH


Converter = Callable[["Layer", list[Tensor], "GraphBuilder"], list[Tensor]]

# The modules of caffebatch.compiler.converters that register converters, one per layer
# family. A new family is one module plus its line here (tests check the list is complete).
BUILTIN_MODULES = (
    "activations",
    "concat_slice",
    "convolution",
    "crop_tile",
    "detection_output",
    "eltwise",
    "embed",
    "fork_channels",
    "fork_norm",
    "fork_resize",
    "inner_product",
    "l2_normalize",
    "normalization",
    "permute",
    "plumbing",
    "pooling",
    "power",
    "prior_box",
    "reduction",
    "reshape",
    "scale_bias",
)

_CONVERTERS: dict[str, Converter] = {}
_FORKS: dict[str, str] = {}  # layer type -> the Caffe fork that defines it (BVLC's are absent)
_builtins_loaded = False


def converts(*layer_types: str, fork: str | None = None) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of `layer_types`.

    `fork` names the Caffe fork whose layer it is (e.g. ``"hszhao/PSPNet"``), for a layer
    type BVLC Caffe does not have; the docs list those in a table of their own. Raises
    ValueError when one of them already has a converter (nothing is registered then).
    """

    def register(function: Converter) -> Converter:
        taken = [layer_type for layer_type in layer_types if layer_type in _CONVERTERS]
        if taken:
            raise ValueError(f"a converter for {taken[0]!r} is already registered")
        for layer_type in layer_types:
            _CONVERTERS[layer_type] = function
            if fork is not None:
                _FORKS[layer_type] = fork
        return function

    return register


def _load_builtin_converters() -> None:
    global _builtins_loaded
    for module in BUILTIN_MODULES:
        importlib.import_module(f"caffebatch.compiler.converters.{module}")
    _builtins_loaded = True


def _registered() -> dict[str, Converter]:
    if not _builtins_loaded:
        _load_builtin_converters()
    return _CONVERTERS


def converters() -> dict[str, Converter]:
    """Every registered converter, by layer type (loads the built-in ones on first use)."""
    return dict(_registered())


def forks() -> dict[str, str]:
    """The fork each fork layer type comes from, by layer type."""
    _registered()
    return dict(_FORKS)


def converter_for(layer_type: str) -> Converter | None:
    """The converter of `layer_type`, or None when caffebatch does not support it."""
    return _registered().get(layer_type)
