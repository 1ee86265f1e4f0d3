"""Sample images for the input tests, made here (no files to ship): encoded bytes by kind."""

from __future__ import annotations

import struct

import cv2
import numpy as np


def photo(height: int, width: int, channels: int = 3, seed: int = 0,
          dtype: type = np.uint8) -> np.ndarray:
    """A photo-like image: smooth colour fields, fine noise, a bright corner (to see rotations)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = [0.5 + 0.4 * np.sin(x / (5 + 3 * c) + y / (7 + 2 * c) + c) for c in range(channels)]
    image = np.stack(planes, axis=-1) + rng.normal(0, 0.05, (height, width, channels))
    image[: height // 4, : width // 4] = 1.0
    top = np.iinfo(dtype).max
    return np.clip(image * top, 0, top).astype(dtype).squeeze()


def encode(image: np.ndarray, extension: str, *params: int) -> bytes:
    ok, data = cv2.imencode(extension, image, list(params))
    assert ok, extension
    return data.tobytes()


def with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` with an EXIF APP1 segment whose Orientation tag is `orientation` (1-8)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0" * 4
    tiff = b"MM\x00*" + struct.pack(">I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# name -> encoded bytes of a 45x61 image (odd sizes make crop offsets round)
def kinds() -> dict[str, bytes]:
    colour = photo(45, 61)
    jpeg = encode(colour, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90)
    return {
        "png": encode(colour, ".png"),
        "bmp": encode(colour, ".bmp"),
        "jpeg": jpeg,
        "tiff": encode(colour, ".tiff"),
        "webp": encode(colour, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101),
        "webp_lossy": encode(colour, ".webp", cv2.IMWRITE_WEBP_QUALITY, 80),
        "grey_png": encode(photo(45, 61, 1), ".png"),
        "alpha_png": encode(photo(45, 61, 4), ".png"),
        "png_16bit": encode(photo(45, 61, 3, dtype=np.uint16), ".png"),
        "grey_png_16bit": encode(photo(45, 61, 1, dtype=np.uint16), ".png"),
        "jpeg_exif_rotated": with_orientation(jpeg, 6),
        "jpeg_exif_mirrored": with_orientation(jpeg, 5),
    }
