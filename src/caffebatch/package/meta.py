"""deployment-meta.json: which files of a package hold the model; its input and output layers.

Optional: `transform` (how images become each input layer's tensor, keyed by input layer; see
caffebatch.inputs.transform) and `labels_file_name` (one class name per line, as synset_words.txt).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from caffebatch.errors import PackageError
from caffebatch.inputs.transform import TransformSpec, parse_transforms

META_FILE = "deployment-meta.json"
MAX_META_BYTES = 1 << 20


@dataclass(frozen=True)
class DeploymentMeta:
    """deployment-meta.json: which files hold the model, and its input and output layers."""

    input_layers: tuple[str, ...]
    output_layers: tuple[str, ...]
    network_definitions_file_name: str
    weights_file_name: str
    # Optional: input blob -> shape without the batch axis, for a net whose only input is
    # a data layer that does not fix its shape (docs/layers.md)
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    transforms: Mapping[str, TransformSpec] = field(default_factory=dict)
    labels_file_name: str | None = None

    @classmethod
    def from_json(cls, text: str | bytes) -> DeploymentMeta:
        """Parse and validate the file's content; PackageError says which field is wrong."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PackageError(f"{META_FILE} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PackageError(f"{META_FILE} must hold a JSON object, got {type(data).__name__}")
        input_layers = _names(data, "input_layers")
        transforms = parse_transforms(data.get("transform", {}), META_FILE)
        unknown = sorted(set(transforms) - set(input_layers))
        if unknown:
            raise PackageError(f"{META_FILE}: 'transform' names {unknown}, which are not in "
                               f"'input_layers' {list(input_layers)}")
        return cls(
            input_layers=input_layers,
            output_layers=_names(data, "output_layers"),
            network_definitions_file_name=_file_name(data, "network_definitions_file_name"),
            weights_file_name=_file_name(data, "weights_file_name"),
            input_shapes=_shapes(data, "input_shapes"),
            transforms=transforms,
            labels_file_name=(_file_name(data, "labels_file_name")
                              if data.get("labels_file_name") is not None else None),
        )


def _names(data: dict[str, object], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise PackageError(
            f"{META_FILE}: {key!r} must be a non-empty list of layer names, got {value!r}"
        )
    if not all(isinstance(name, str) and name for name in value):
        raise PackageError(f"{META_FILE}: {key!r} must hold non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        raise PackageError(f"{META_FILE}: {key!r} names a layer twice: {value!r}")
    return tuple(value)


def _file_name(data: dict[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PackageError(f"{META_FILE}: {key!r} must be a file name, got {value!r}")
    if value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise PackageError(
            f"{META_FILE}: {key!r} must be a plain file name in the package, got {value!r}"
        )
    return value


def _shapes(data: dict[str, object], key: str) -> dict[str, tuple[int, ...]]:
    value = data.get(key, {})
    valid = isinstance(value, dict) and all(
        isinstance(name, str)
        and isinstance(dims, list)
        and dims
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims)
        for name, dims in value.items()
    )
    if not valid:
        raise PackageError(
            f"{META_FILE}: {key!r} must map input names to lists of positive dims without the "
            f'batch axis, e.g. {{"data": [3, 360, 480]}}; got {value!r}'
        )
    assert isinstance(value, dict)
    return {name: tuple(dims) for name, dims in value.items()}
