"""The transform against cv2.dnn.blobFromImage on cv2.imread of the same file: equal exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from caffebatch.inputs import InputSpec, TransformSpec
from caffebatch.inputs.formats import decode
from caffebatch.inputs.transform import resolve
from tests.inputs.samples import kinds

KINDS = kinds()
LIMIT = 1 << 24


def ours(data: bytes, spec: TransformSpec, shape: tuple[int, int, int], root: Path) -> np.ndarray:
    transform = resolve(spec, "data", shape, root)
    record = decode("x", data, InputSpec({"data": shape}, {"data": transform}), LIMIT)
    return record.arrays["data"]


def opencv(path: Path, spec: TransformSpec, shape: tuple[int, int, int]) -> np.ndarray:
    """What an OpenCV user gets: imread, then blobFromImage with the same settings."""
    channels, height, width = shape
    grey = channels == 1 if spec.grayscale is None else spec.grayscale
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    mean = tuple(spec.mean) if isinstance(spec.mean, tuple) else 0
    return cv2.dnn.blobFromImage(image, scalefactor=spec.scale, size=(width, height), mean=mean,
                                 swapRB=spec.channel_order == "RGB", crop=spec.resize == "crop")[0]


def check(kind: str, spec: TransformSpec, shape: tuple[int, int, int], tmp_path: Path) -> None:
    path = tmp_path / f"image-{kind}"
    path.write_bytes(KINDS[kind])
    expected = opencv(path, spec, shape)
    got = ours(KINDS[kind], spec, shape, tmp_path)
    assert got.dtype == np.float32 and got.shape == shape == expected.shape
    np.testing.assert_array_equal(got, expected)


COLOUR = (3, 32, 40)  # the samples are 45x61: shrink, with unequal factors
SPECS = {
    "stretch_bgr": TransformSpec(),
    "stretch_rgb_mean_scale": TransformSpec(channel_order="RGB", mean=(104.0, 117.0, 123.0),
                                            scale=0.017),
    "crop_bgr_mean": TransformSpec(resize="crop", mean=(103.94, 116.78, 123.68)),
    "crop_rgb_scale": TransformSpec(resize="crop", channel_order="RGB", scale=1 / 255),
}


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_colour_inputs_equal_blob_from_image(kind, spec, tmp_path):
    check(kind, spec, COLOUR, tmp_path)


@pytest.mark.parametrize("shape", [(3, 90, 61), (3, 45, 61), (3, 100, 100), (3, 17, 200)],
                         ids=["taller", "same", "upscale", "wide"])
@pytest.mark.parametrize("resize", ["stretch", "crop"])
def test_sizes_and_crop_offsets_equal_blob_from_image(shape, resize, tmp_path):
    check("png", TransformSpec(resize=resize, mean=(10.0, 20.0, 30.0)), shape, tmp_path)


GREY_SPECS = {
    "grey_default": TransformSpec(scale=0.00390625),
    "grey_mean_crop": TransformSpec(grayscale=True, mean=(33.5,), resize="crop"),
}


@pytest.mark.parametrize("spec", GREY_SPECS.values(), ids=GREY_SPECS.keys())
@pytest.mark.parametrize("kind", ["png", "jpeg", "bmp", "grey_png", "alpha_png", "png_16bit",
                                  "grey_png_16bit", "jpeg_exif_rotated"])
def test_grayscale_inputs_equal_blob_from_image(kind, spec, tmp_path):
    check(kind, spec, (1, 28, 28), tmp_path)


def test_exif_orientation_is_applied(tmp_path):
    """The rotated JPEG is 45x61 stored, 61x45 shown: a stretch to 61x45 keeps every pixel."""
    upright = ours(KINDS["jpeg_exif_rotated"], TransformSpec(), (3, 61, 45), tmp_path)
    stored = ours(KINDS["jpeg"], TransformSpec(), (3, 45, 61), tmp_path)
    # Orientation 6 is "rotate 90 clockwise to show": the stored top row becomes the right column.
    np.testing.assert_allclose(upright, np.rot90(stored, k=-1, axes=(1, 2)), atol=0)
