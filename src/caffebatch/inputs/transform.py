"""The transform that makes a decoded image into an input layer's tensor.

`TransformSpec` is what deployment-meta.json (or `score --transform FILE`) declares for one
input layer; `resolve` checks it against the layer's shape and the package's files and gives
a `Transform`, a plain value that `apply` runs on every image. `apply` computes what
`cv2.dnn.blobFromImage(image, scale, (W, H), mean, swapRB, crop)` computes, in its order:
resize the 8-bit image (bilinear), cut the centre, swap channels, subtract the mean in float32,
multiply by the scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caffebatch.errors import PackageError
from caffebatch.inputs.meanfile import read_mean_file

IMAGE_CHANNELS = (1, 3)  # what an image gives: grey, or three colours


class TransformSpec(BaseModel):
    """One input layer's transform as declared; every field is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]] | None = Field(
        default=None, description="[H, W]; default: the input layer's.")
    resize: Literal["stretch", "crop"] = Field(
        default="stretch", description="stretch to the size, or keep the aspect and cut the centre")
    channel_order: Literal["BGR", "RGB"] = "BGR"
    mean: tuple[float, ...] | str | None = Field(
        default=None, description="per-channel values in channel_order, or a .binaryproto file")
    scale: float = Field(default=1.0, description="multiplies after the mean is subtracted")
    grayscale: bool | None = Field(default=None, description="default: the layer has 1 channel")

    @field_validator("mean")
    @classmethod
    def _finite_mean(cls, value: object) -> object:
        if isinstance(value, tuple) and not all(math.isfinite(v) for v in value):
            raise ValueError("mean values must be finite numbers")
        if isinstance(value, str) and (value in ("", ".", "..") or any(c in value for c in "/\\\0")):
            raise ValueError("a mean file must be a plain file name in the model package")
        return value

    @field_validator("scale")
    @classmethod
    def _finite_scale(cls, value: float) -> float:
        if not math.isfinite(value) or value == 0:
            raise ValueError("scale must be a finite, non-zero number")
        return value


def parse_transforms(value: object, where: str) -> dict[str, TransformSpec]:
    """`{"<input layer>": {...}, ...}` as specs; PackageError names the layer and the field."""
    if not isinstance(value, dict):
        raise PackageError(f"{where}: 'transform' must be an object keyed by input layer, "
                           f"got {type(value).__name__}")
    specs = {}
    for layer, fields in value.items():
        try:
            specs[layer] = TransformSpec.model_validate(fields)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc']) or 'the value'}: {item['msg']} "
                f"(got {item['input']!r})"
                for item in error.errors()
            )
            raise PackageError(f"{where}: transform of input layer {layer!r}: {problems}") from None
    return specs


@dataclass(frozen=True)
class Transform:
    """A transform resolved against its input layer: everything `apply` needs, nothing else.

    `mean` is float32, shaped (C, 1, 1) for per-channel values or (C, H, W) for a mean file.
    """

    height: int
    width: int
    channels: int
    crop: bool
    swap_rb: bool
    grayscale: bool
    mean: np.ndarray
    scale: float

    def to_json(self) -> dict[str, object]:
        """Plain JSON values (the compiled model keeps its transforms so)."""
        return {"height": self.height, "width": self.width, "channels": self.channels,
                "crop": self.crop, "swap_rb": self.swap_rb, "grayscale": self.grayscale,
                "mean_shape": list(self.mean.shape), "mean": self.mean.ravel().tolist(),
                "scale": self.scale}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Transform:
        """The transform `to_json` wrote."""
        fields = dict(data)
        shape = fields.pop("mean_shape")
        mean = np.array(fields.pop("mean"), np.float32).reshape(shape)  # type: ignore[call-overload]
        return cls(mean=mean, **fields)  # type: ignore[arg-type]


def image_shaped(shape: tuple[int, ...]) -> bool:
    """Whether an input of `shape` (no batch axis) can take an image: (1 or 3, H, W)."""
    return len(shape) == 3 and shape[0] in IMAGE_CHANNELS


def resolve(spec: TransformSpec, layer: str, shape: tuple[int, ...], root: Path) -> Transform:
    """`spec` for input layer `layer` of `shape`; the mean file is read from `root`."""
    where = f"transform of input layer {layer!r}"
    if not image_shaped(shape):
        raise PackageError(f"{where}: an image makes a (C, H, W) input with C in "
                           f"{list(IMAGE_CHANNELS)}; the layer's shape is {list(shape)}")
    channels, height, width = shape
    if spec.size is not None and spec.size != (height, width):
        raise PackageError(f"{where}: size {list(spec.size)} differs from the layer's "
                           f"[H, W] {[height, width]}; the compiled net takes only that size")
    grayscale = channels == 1 if spec.grayscale is None else spec.grayscale
    if grayscale and channels != 1:
        raise PackageError(f"{where}: grayscale makes 1 channel; the layer has {channels}")
    return Transform(
        height=height, width=width, channels=channels, crop=spec.resize == "crop",
        swap_rb=spec.channel_order == "RGB" and channels == 3, grayscale=grayscale,
        mean=_mean(spec.mean, where, shape, root), scale=spec.scale,
    )


def _mean(mean: tuple[float, ...] | str | None, where: str, shape: tuple[int, ...],
          root: Path) -> np.ndarray:
    channels, height, width = shape
    if mean is None:
        return np.zeros((channels, 1, 1), np.float32)
    if isinstance(mean, tuple):
        if len(mean) != channels:
            raise PackageError(f"{where}: mean has {len(mean)} values; the layer has "
                               f"{channels} channel(s)")
        return np.array(mean, np.float32).reshape(channels, 1, 1)
    values = read_mean_file(root, mean, where)
    if values.shape[0] != channels or values.shape[1] < height or values.shape[2] < width:
        raise PackageError(f"{where}: mean file {mean!r} has shape {list(values.shape)}; "
                           f"expected {channels} channel(s) of at least {height}x{width}")
    # Caffe's DataTransformer (TEST phase) cuts the crop at ((H_mean - H) / 2, (W_mean - W) / 2)
    # of the image and of the mean alike, so the mean's centre is what the net was trained with.
    top, left = (values.shape[1] - height) // 2, (values.shape[2] - width) // 2
    return np.ascontiguousarray(values[:, top:top + height, left:left + width])


def apply(image: np.ndarray, transform: Transform) -> np.ndarray:
    """An 8-bit (H, W) or (H, W, C) image as the layer's float32 (C, H, W) tensor."""
    from caffebatch.inputs.opencv import opencv

    cv2 = opencv()
    height, width = image.shape[:2]
    if (height, width) != (transform.height, transform.width):
        if transform.crop:
            # blobFromImage: the factor is a float, the crop's corner truncated to whole pixels.
            factor = float(max(np.float32(transform.width) / np.float32(width),
                               np.float32(transform.height) / np.float32(height)))
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
            top = int(0.5 * (image.shape[0] - transform.height))
            left = int(0.5 * (image.shape[1] - transform.width))
            image = image[top:top + transform.height, left:left + transform.width]
        else:
            image = cv2.resize(image, (transform.width, transform.height),
                               interpolation=cv2.INTER_LINEAR)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if transform.swap_rb:
        image = image[:, :, ::-1]
    tensor = image.transpose(2, 0, 1).astype(np.float32)
    tensor -= transform.mean
    tensor *= np.float32(transform.scale)
    return tensor


def resolve_all(specs: Mapping[str, TransformSpec], shapes: Mapping[str, tuple[int, ...]],
                root: Path) -> dict[str, Transform]:
    """The transforms of a model whose input layers have `shapes` (by layer name).

    A declared spec is resolved (and so checked). A model with one image-shaped input and no
    declaration gets the default transform, so that images need no configuration.
    """
    unknown = sorted(set(specs) - set(shapes))
    if unknown:
        raise PackageError(f"a transform is declared for {unknown}, which are not input layers; "
                           f"the input layers are {sorted(shapes)}")
    if specs and len(shapes) > 1:
        raise PackageError(f"an image fills one input, but the model has {len(shapes)} input "
                           f"layers ({sorted(shapes)}); give them JSON records instead")
    if len(shapes) == 1 and not specs:
        (layer, shape), = shapes.items()
        return {layer: resolve(TransformSpec(), layer, shape, root)} if image_shaped(shape) else {}
    return {layer: resolve(spec, layer, shapes[layer], root) for layer, spec in specs.items()}
