"""A .binaryproto mean, against a numpy statement of Caffe's DataTransformer (TEST phase)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import PackageError
from caffebatch.inputs import InputSpec, TransformSpec
from caffebatch.inputs.formats import decode
from caffebatch.inputs.transform import resolve
from tests.inputs.samples import kinds


def write_mean(path: Path, mean: np.ndarray, legacy: bool = True) -> None:
    """Caffe's compute_image_mean writes (num 1, C, H, W) in the legacy fields; newer tools a shape."""
    blob = caffe_pb2.BlobProto(data=mean.ravel().tolist())
    if legacy:
        blob.num, (blob.channels, blob.height, blob.width) = 1, mean.shape
    else:
        blob.shape.dim.extend([1, *mean.shape])
    path.write_bytes(blob.SerializeToString())


def caffe_data_transformer(pixels: np.ndarray, mean: np.ndarray, scale: float) -> np.ndarray:
    """DataTransformer::Transform for TEST: the crop is centred, h_off = (H_mean - H) / 2 (integer
    division), and top[c][h][w] = (pixel[c][h][w] - mean[c][h_off + h][w_off + w]) * scale."""
    channels, height, width = pixels.shape
    h_off, w_off = (mean.shape[1] - height) // 2, (mean.shape[2] - width) // 2
    out = np.empty(pixels.shape, np.float32)
    for c in range(channels):
        for h in range(height):
            for w in range(width):
                value = np.float32(pixels[c, h, w]) - mean[c, h_off + h, w_off + w]
                out[c, h, w] = value * np.float32(scale)
    return out


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy_dims", "shape"])
@pytest.mark.parametrize("mean_size", [(32, 40), (41, 51), (48, 57)])
def test_a_mean_file_is_centre_cropped_and_subtracted_per_pixel(tmp_path, legacy, mean_size):
    rng = np.random.default_rng(3)
    mean = rng.uniform(90, 130, (3, *mean_size)).astype(np.float32)
    write_mean(tmp_path / "mean.binaryproto", mean, legacy)
    shape = (3, 32, 40)
    spec = TransformSpec(mean="mean.binaryproto", scale=0.017)
    transform = resolve(spec, "data", shape, tmp_path)
    data = kinds()["png"]
    got = decode("x", data, InputSpec({"data": shape}, {"data": transform}), 1 << 20).arrays["data"]
    # The pixels as blobFromImage resizes them (no mean, scale 1), then Caffe's arithmetic.
    pixels = cv2.dnn.blobFromImage(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                                   1.0, (40, 32))[0]
    np.testing.assert_array_equal(got, caffe_data_transformer(pixels, mean, 0.017))


@pytest.mark.parametrize(("mean", "message"), [
    (np.zeros((1, 32, 40), np.float32), r"has shape \[1, 32, 40\]; expected 3 channel\(s\) of at least 32x40"),
    (np.zeros((3, 31, 40), np.float32), r"expected 3 channel\(s\) of at least 32x40"),
])
def test_a_mean_file_that_does_not_fit_the_layer_is_refused(tmp_path, mean, message):
    write_mean(tmp_path / "m.binaryproto", mean)
    with pytest.raises(PackageError, match=message):
        resolve(TransformSpec(mean="m.binaryproto"), "data", (3, 32, 40), tmp_path)


def test_a_missing_or_garbled_mean_file_is_refused(tmp_path):
    with pytest.raises(PackageError, match=r"mean file 'm.binaryproto' is not in the package"):
        resolve(TransformSpec(mean="m.binaryproto"), "data", (3, 8, 8), tmp_path)
    (tmp_path / "m.binaryproto").write_bytes(b"\xff\xff\xff")
    with pytest.raises(PackageError, match="is not a BlobProto"):
        resolve(TransformSpec(mean="m.binaryproto"), "data", (3, 8, 8), tmp_path)
    blob = caffe_pb2.BlobProto(num=1, channels=3, height=8, width=8, data=[1.0] * 10)
    (tmp_path / "m.binaryproto").write_bytes(blob.SerializeToString())
    with pytest.raises(PackageError, match=r"holds 10 values of shape \[3, 8, 8\]"):
        resolve(TransformSpec(mean="m.binaryproto"), "data", (3, 8, 8), tmp_path)
