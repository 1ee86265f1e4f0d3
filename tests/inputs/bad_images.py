"""A corpus of bad image objects, each with the error code it must get (for a 1x28x28 grey input
unless it says otherwise)."""

from __future__ import annotations

import struct
import zlib

from tests.inputs.samples import encode, photo

PNG = encode(photo(45, 61), ".png")
JPEG = encode(photo(45, 61), ".jpg")


def png_claiming(height: int, width: int) -> bytes:
    """A PNG whose IHDR claims another size (with a good CRC), so only the header tells."""
    ihdr = PNG[12:16] + struct.pack(">II", width, height) + PNG[24:29]
    return PNG[:8] + PNG[8:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + PNG[33:]


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00" \
      b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'

# name -> (object bytes, expected code)
CORPUS: dict[str, tuple[bytes, str]] = {
    "truncated_png": (PNG[: len(PNG) // 2], "corrupt_image"),
    "truncated_jpeg": (JPEG[: len(JPEG) // 2], "corrupt_image"),
    "png_bad_crc": (PNG[:40] + bytes(40) + PNG[80:], "corrupt_image"),
    "jpeg_no_frame": (b"\xff\xd8\xff\xe0\x00\x04ab\xff\xda\x00\x02", "corrupt_image"),
    "png_header_only": (PNG[:20], "corrupt_image"),
    "gif": (GIF, "unsupported_format"),
    "svg": (SVG, "unsupported_format"),
    "zero_width_png": (png_claiming(45, 0), "zero_size"),
    "zero_height_png": (png_claiming(0, 61), "zero_size"),
    "bomb_png": (png_claiming(100_000, 100_000), "too_many_pixels"),
    "colour_into_grey_layer": (PNG, "too_many_channels"),  # with grayscale: false
}
