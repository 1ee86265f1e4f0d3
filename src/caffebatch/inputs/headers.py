"""Image formats told apart by their first bytes, and their pixel size read from the header.

The size is read before anything is decoded, so that a decompression bomb (a small file that
decodes to gigabytes) is refused for the price of a few bytes. A format that the table knows
but caffebatch does not read (GIF, SVG, ...) is named, so its error says what came.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

Size = tuple[int, int]  # (height, width)


class HeaderError(ValueError):
    """The header is cut short or inconsistent."""


@dataclass(frozen=True)
class ImageKind:
    """A format: how to recognise it, and how to read its size (None: one we do not read)."""

    name: str
    matches: Callable[[bytes], bool]
    size: Callable[[bytes], Size] | None


def _unpack(layout: str, data: bytes, offset: int) -> tuple[int, ...]:
    try:
        return struct.unpack_from(layout, data, offset)
    except struct.error:
        raise HeaderError("the header is cut short") from None


# JPEG markers that start a frame (SOF0-SOF15 without DHT, JPG and DAC) and carry its size.
_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD9)) | {0x01}


def _jpeg_size(data: bytes) -> Size:
    offset = 2
    while offset < len(data):
        if data[offset] != 0xFF:
            raise HeaderError(f"expected a JPEG marker at byte {offset}")
        while offset < len(data) and data[offset] == 0xFF:  # fill bytes
            offset += 1
        if offset >= len(data):
            break
        marker = data[offset]
        offset += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came
            break
        (length,) = _unpack(">H", data, offset)
        if marker in _FRAME_MARKERS:
            height, width = _unpack(">HH", data, offset + 3)
            return height, width
        offset += length
    raise HeaderError("no JPEG frame header")


def _png_size(data: bytes) -> Size:
    if data[12:16] != b"IHDR":
        raise HeaderError("the PNG does not start with its IHDR chunk")
    width, height = _unpack(">II", data, 16)
    return height, width


def _bmp_size(data: bytes) -> Size:
    (header,) = _unpack("<I", data, 14)
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = _unpack("<HH", data, 18)
    else:
        width, height = _unpack("<ii", data, 18)
    return abs(height), abs(width)  # a negative height stores the rows top-down


def _tiff_size(data: bytes) -> Size:
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = _unpack(order + "I", data, 4)
    (count,) = _unpack(order + "H", data, offset)
    found: dict[int, int] = {}
    for index in range(count):
        tag, kind = _unpack(order + "HH", data, offset + 2 + 12 * index)
        value_at = offset + 2 + 12 * index + 8
        if tag in (256, 257):  # ImageWidth, ImageLength: a SHORT or a LONG
            (found[tag],) = _unpack(order + ("H" if kind == 3 else "I"), data, value_at)
    if 256 not in found or 257 not in found:
        raise HeaderError("the TIFF's first directory lacks its width or length")
    return found[257], found[256]


def _webp_size(data: bytes) -> Size:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        width, height = _unpack("<HH", data, 26)
        return height & 0x3FFF, width & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14 bits each, minus one, after the signature byte
        (bits,) = _unpack("<I", data, 21)
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24 bits each, minus one
        fields = _unpack("<6B", data, 24)
        width = fields[0] | fields[1] << 8 | fields[2] << 16
        height = fields[3] | fields[4] << 8 | fields[5] << 16
        return height + 1, width + 1
    raise HeaderError(f"unknown WebP chunk {chunk!r}")


def _svg(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") and b"<svg" in head.lower()  # JSON never starts with "<"


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"mif1", b"msf1", b"avif", b"avis")

KINDS: tuple[ImageKind, ...] = (
    ImageKind("JPEG", lambda d: d[:3] == b"\xff\xd8\xff", _jpeg_size),
    ImageKind("PNG", lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", _png_size),
    ImageKind("BMP", lambda d: d[:2] == b"BM" and len(d) >= 26, _bmp_size),
    ImageKind("TIFF", lambda d: d[:4] in (b"II*\x00", b"MM\x00*"), _tiff_size),
    ImageKind("WebP", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _webp_size),
    ImageKind("GIF", lambda d: d[:6] in (b"GIF87a", b"GIF89a"), None),
    ImageKind("SVG", _svg, None),
    ImageKind("HEIF/AVIF", lambda d: d[4:8] == b"ftyp" and d[8:12] in _HEIF_BRANDS, None),
    ImageKind("JPEG 2000", lambda d: d[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n"
              or d[:4] == b"\xff\x4f\xff\x51", None),
    ImageKind("BigTIFF", lambda d: d[:4] in (b"II+\x00", b"MM\x00+"), None),
    ImageKind("Photoshop", lambda d: d[:4] == b"8BPS", None),
)


def kind_of(data: bytes) -> ImageKind | None:
    """The image format `data` starts like, or None when it is no image format we know."""
    return next((kind for kind in KINDS if kind.matches(data)), None)


READABLE = tuple(kind.name for kind in KINDS if kind.size is not None)
