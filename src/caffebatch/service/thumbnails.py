"""Thumbnails of a deployment's image inputs, made here so that the browser fetches little.

A thumbnail is the input scaled down to fit `THUMBNAIL_PX` on its longer side (never up),
as PNG, with the run's boxes drawn on it when the model is a detector. Only an input the
run wrote a result for is shown: a key the deployment did not score, or one outside its
source, is not found, whatever the storage behind it would answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from caffebatch.errors import InvalidRequestError
from caffebatch.service.context import ServiceContext
from caffebatch.service.gallery import Box, deployment_storages, result_of, shown_of
from caffebatch.service.identity import Principal

THUMBNAIL_PX = 160
MAX_IMAGE_BYTES = 64 * 1024 * 1024
BOX_COLOUR = (0, 200, 255)  # BGR: amber, visible on dark and light images alike


def make_thumbnail(data: bytes, bound: int, max_pixels: int,
                   boxes: Sequence[Box] = ()) -> bytes:
    """`data` (an image) as a PNG at most `bound` pixels on each side, with `boxes` drawn.

    InvalidRequestError when `data` is no image we read, is over `max_pixels`, or is corrupt.
    """
    from caffebatch.inputs.headers import HeaderError, kind_of
    from caffebatch.inputs.opencv import opencv

    kind = kind_of(data)
    if kind is None or kind.size is None:
        what = "no image" if kind is None else f"a {kind.name} image, which caffebatch does not read"
        raise InvalidRequestError(f"the input is {what}", code="not_an_image")
    try:
        height, width = kind.size(data)
    except HeaderError as error:
        raise InvalidRequestError(f"a {kind.name} image with a bad header: {error}",
                                  code="corrupt_image") from None
    if height * width > max_pixels or height == 0 or width == 0:
        raise InvalidRequestError(f"a {kind.name} image of {height}x{width} pixels; the limit is "
                                  f"{max_pixels:,} pixels", code="too_many_pixels")
    cv2 = opencv()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidRequestError(f"a {kind.name} image that does not decode",
                                  code="corrupt_image")
    factor = min(1.0, bound / max(image.shape[:2]))
    if factor < 1.0:
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    _draw(cv2, image, boxes)
    ok, encoded = cv2.imencode(".png", image)
    assert ok  # an 8-bit BGR array always encodes as PNG
    return bytes(encoded)


def _draw(cv2: object, image: np.ndarray, boxes: Sequence[Box]) -> None:
    height, width = image.shape[:2]
    for box in boxes:
        corner = (round(box.xmin * width), round(box.ymin * height))
        across = (round(box.xmax * width), round(box.ymax * height))
        cv2.rectangle(image, corner, across, BOX_COLOUR, 1)  # type: ignore[attr-defined]
        cv2.putText(image, box.name, (corner[0] + 2, max(corner[1] + 10, 10)),  # type: ignore[attr-defined]
                    cv2.FONT_HERSHEY_PLAIN, 0.8, BOX_COLOUR, 1)  # type: ignore[attr-defined]


def thumbnail(ctx: ServiceContext, principal: Principal, instance_id: str, deployment_id: str,
              key: str, bound: int = THUMBNAIL_PX) -> bytes:
    """The PNG thumbnail of input `key` of the deployment, its boxes drawn on it.

    NotFoundError when the run has no result for `key`; InvalidRequestError when the input
    is not an image (or is too large to decode).
    """
    with deployment_storages(ctx, principal, instance_id, deployment_id) as (source, target, view):
        shown = shown_of(key, result_of(target, key), view)
        data = source.get(key, MAX_IMAGE_BYTES)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidRequestError(f"the input is over {MAX_IMAGE_BYTES} bytes", code="too_large")
    return make_thumbnail(data, bound, ctx.settings.max_image_pixels, shown.boxes)
