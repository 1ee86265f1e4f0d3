"""A deployment's image transforms: its own over the model's, checked against the version.

A deployment may give `transform` (by input layer, the fields of deployment-meta.json's) to
replace what the model's package declares, as `score --transform` does on the CLI. It is
resolved against the version that publishing saved, from the version's metadata (the input
layers and their shapes) and its package folder (for a `.binaryproto` mean), so a transform
that does not fit the model is refused when the deployment is created, not when it runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caffebatch.errors import InvalidRequestError, PackageError
from caffebatch.inputs import Transform, TransformSpec


def resolve_override(specs: Mapping[str, TransformSpec], meta: Mapping[str, Any],
                     folder: Path) -> dict[str, Transform]:
    """The transforms by compiled input name; PackageError says what does not fit."""
    from caffebatch.inputs.transform import resolve_all

    layers = list(meta.get("input_layers", []))
    inputs = {name: tuple(shape) for name, shape in meta.get("inputs", {}).items()}
    # compile_package compiles the inputs in input_layers' order, so the two lists pair up
    value_of = dict(zip(layers, inputs, strict=False))
    shapes = {layer: inputs[value] for layer, value in value_of.items()}
    root = folder / str(meta.get("package_root", "package"))
    resolved = resolve_all(specs, shapes, root)
    return {value_of[layer]: transform for layer, transform in resolved.items()}


def check_override(specs: Mapping[str, TransformSpec], meta: Mapping[str, Any],
                   folder: Path) -> None:
    """InvalidRequestError (400, naming `transform`) when `specs` do not fit the version."""
    try:
        resolve_override(specs, meta, folder)
    except PackageError as error:
        raise InvalidRequestError(f"transform: {error}", code="invalid_transform") from error


def with_override(compiled: Any, specs: Mapping[str, TransformSpec] | None,
                  meta: Mapping[str, Any], folder: Path) -> Any:
    """`compiled` with the deployment's transforms in place of its own, when it gives any."""
    if not specs:
        return compiled
    return dataclasses.replace(compiled, transforms=resolve_override(specs, meta, folder))
