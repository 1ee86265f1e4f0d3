"""InputSpec: what decoding an input object needs to know of the model it is for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caffebatch.inputs.transform import Transform

DEFAULT_MAX_IMAGE_PIXELS = 40_000_000  # 120 MB decoded at 3 bytes a pixel; an 8K photo is 33M
DEFAULT_MAX_JSONL_BYTES = 64 * 1024 * 1024  # one JSON Lines object, like one JSON record
DEFAULT_MAX_JSONL_LINES = 100_000           # records in one JSON Lines object


@dataclass(frozen=True)
class InputSpec:
    """What decoding needs to know of a model, as plain picklable values.

    `shapes`: each input's shape without the batch axis (CompiledModel.inputs);
    `transforms`: by input name, for the inputs that take images;
    `max_image_pixels`: the largest image (height x width) decoded;
    `max_jsonl_bytes`, `max_jsonl_lines`: the largest JSON Lines object read, and the most
    records (non-blank lines) it may hold.
    """

    shapes: Mapping[str, tuple[int, ...]]
    transforms: Mapping[str, Transform] = field(default_factory=dict)
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_jsonl_bytes: int = DEFAULT_MAX_JSONL_BYTES
    max_jsonl_lines: int = DEFAULT_MAX_JSONL_LINES
