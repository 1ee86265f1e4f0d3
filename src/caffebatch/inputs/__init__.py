"""Input objects in every format caffebatch reads, and the transform that feeds images to a net.

    spec       InputSpec: the model's input shapes, transforms and image limit
    formats    the registry of input formats, told apart by content; `decode` dispatches
    headers    image formats by their first bytes, and their size before decoding
    images     JPEG, PNG, BMP, TIFF, WebP through OpenCV (the `images` extra)
    transform  TransformSpec (declared) -> Transform (resolved) -> apply (blobFromImage's math)
    meanfile   Caffe's .binaryproto mean images

The seed's JSON objects stay in jobs/records.py; `formats.decode` falls back to them.
"""

from caffebatch.inputs.spec import DEFAULT_MAX_IMAGE_PIXELS, InputSpec
from caffebatch.inputs.transform import Transform, TransformSpec, parse_transforms

# `formats.decode` is not re-exported: it reads JSON through jobs/, and package/ (which jobs/
# and settings import) reads transforms from here, so importing it here would be a cycle.
__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "InputSpec", "Transform", "TransformSpec", "parse_transforms"]
