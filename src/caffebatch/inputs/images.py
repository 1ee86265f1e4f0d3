"""Images as input objects: JPEG, PNG, BMP, TIFF and WebP, decoded by OpenCV and transformed.

    bytes ─► kind_of (first bytes) ─► header size (bomb check) ─► cv2.imdecode ─► apply(transform)

The image is read as `cv2.imread(path, cv2.IMREAD_COLOR)` reads it (EXIF orientation applied,
alpha dropped, 16 bits scaled to 8), or with IMREAD_GRAYSCALE for a grayscale transform, so that
the tensor is what blobFromImage makes of the same file.
"""

from __future__ import annotations

import numpy as np

from caffebatch.errors import ExtraMissingError, RecordError
from caffebatch.inputs import headers
from caffebatch.inputs.formats import input_format
from caffebatch.inputs.opencv import opencv
from caffebatch.inputs.spec import InputSpec
from caffebatch.inputs.transform import apply
from caffebatch.jobs.records import Record

# The stable error codes of errors.jsonl for images (documented in docs/batch-runs.md).
CORRUPT_IMAGE = "corrupt_image"
UNSUPPORTED_FORMAT = "unsupported_format"
ZERO_SIZE = "zero_size"
TOO_MANY_PIXELS = "too_many_pixels"
TOO_MANY_CHANNELS = "too_many_channels"
NOT_AN_IMAGE_INPUT = "not_an_image_input"
IMAGES_UNAVAILABLE = "images_unavailable"


def _is_image(data: bytes) -> bool:
    return headers.kind_of(data) is not None


@input_format("image", _is_image)
def decode_image(key: str, data: bytes, spec: InputSpec) -> Record:
    """The Record of image object `key`: one tensor, for the model's one image input."""
    kind = headers.kind_of(data)
    assert kind is not None  # sniffed by the caller
    if kind.size is None:
        raise RecordError(UNSUPPORTED_FORMAT, f"a {kind.name} image; caffebatch reads "
                          f"{', '.join(headers.READABLE)} images and JSON objects")
    if not spec.transforms:
        raise RecordError(NOT_AN_IMAGE_INPUT, _why_no_images(spec))
    (name, transform), = spec.transforms.items()
    try:
        height, width = kind.size(data)
    except headers.HeaderError as error:
        raise RecordError(CORRUPT_IMAGE, f"a {kind.name} image with a bad header: {error}") from None
    if height == 0 or width == 0:
        raise RecordError(ZERO_SIZE, f"a {kind.name} image of {height}x{width} pixels")
    if height * width > spec.max_image_pixels:
        raise RecordError(TOO_MANY_PIXELS, f"a {kind.name} image of {height}x{width} pixels, "
                          f"over the limit of {spec.max_image_pixels:,} pixels")
    try:
        cv2 = opencv()
    except ExtraMissingError as error:
        raise RecordError(IMAGES_UNAVAILABLE, str(error)) from None
    if transform.grayscale:
        flags = cv2.IMREAD_GRAYSCALE
    elif transform.channels == 3:
        flags = cv2.IMREAD_COLOR
    else:  # a 1-channel layer that takes grey images as they are, and refuses colour ones
        flags = cv2.IMREAD_ANYCOLOR
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise RecordError(CORRUPT_IMAGE, f"a {kind.name} image that does not decode "
                          "(truncated or corrupt)")
    if image.ndim == 3 and image.shape[2] > transform.channels:
        raise RecordError(TOO_MANY_CHANNELS, f"input {name!r}: a {kind.name} image with "
                          f"{image.shape[2]} channels; the layer takes {transform.channels} "
                          "(a grayscale transform would make it grey)")
    return Record(key, {name: apply(image, transform)})


def _why_no_images(spec: InputSpec) -> str:
    if len(spec.shapes) != 1:
        return (f"an image fills one input, but the model has {len(spec.shapes)} "
                f"({sorted(spec.shapes)}); give a JSON object")
    (name, shape), = spec.shapes.items()
    return (f"input {name!r} has shape {list(shape)}; an image makes (C, H, W) with C 1 or 3; "
            "give a JSON object")
