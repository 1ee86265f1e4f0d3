"""OpenCV, the optional extra that decodes and resizes images (`pip install 'caffebatch[images]'`).

OpenCV is the library blobFromImage users had, so its decoders and its bilinear resize give
their numbers exactly; it reads all five formats (with EXIF orientation) and releases the GIL
while it decodes. BENCHMARKS.md (Image decoders) has the measurements it was chosen by.
"""

from __future__ import annotations

from types import ModuleType

from caffebatch.errors import ExtraMissingError
from caffebatch.extras import require


def opencv() -> ModuleType:
    """The cv2 module; ExtraMissingError saying how to install it when it is missing."""
    try:
        import cv2
    except ImportError:
        require("images", "reading images")  # raises, naming the pip command
        raise
    return cv2


def available() -> bool:
    """Whether images can be decoded here."""
    try:
        opencv()
    except ExtraMissingError:
        return False
    return True
