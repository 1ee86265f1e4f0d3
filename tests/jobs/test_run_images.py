"""Runs over images, end to end: a folder and a bucket scored by a colour model through its
transform give what OpenCV's DNN gives (readNetFromCaffe + blobFromImage) on the same files; a
bad-image corpus gets its codes while the good images are scored; the CLI's --transform."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from caffebatch.jobs import Location, RunOptions, run_batch
from caffebatch.model import load_model
from tests.compiler.netbuilder import layer, write_caffe_files
from tests.inputs.bad_images import CORPUS
from tests.inputs.samples import encode, photo, with_orientation
from tests.jobs.conftest import LENET

SHAPE = (1, 3, 32, 40)
TRANSFORM = {"resize": "crop", "channel_order": "RGB", "mean": [123.68, 116.78, 103.94],
             "scale": 0.017}


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> Path:
    """conv 3x3 -> ReLU -> max pool -> inner product -> softmax, on 3x32x40, with a transform."""
    folder = tmp_path_factory.mktemp("colour-model")
    rng = np.random.default_rng(11)
    layers = [
        layer("conv", "Convolution", ["data"], ["conv"],
              blobs=[rng.normal(0, 0.3, (6, 3, 3, 3)), rng.normal(0, 0.1, 6)],
              convolution_param={"num_output": 6, "kernel_size": [3], "stride": [2]}),
        layer("relu", "ReLU", ["conv"], ["conv"]),
        layer("pool", "Pooling", ["conv"], ["pool"],
              pooling_param={"pool": 0, "kernel_size": 2, "stride": 2}),
        layer("ip", "InnerProduct", ["pool"], ["ip"],
              blobs=[rng.normal(0, 0.1, (7, 6 * 8 * 10)), rng.normal(0, 0.1, 7)],
              inner_product_param={"num_output": 7}),
        layer("prob", "Softmax", ["ip"], ["prob"]),
    ]
    write_caffe_files(layers, {"data": SHAPE}, folder)
    (folder / "deployment-meta.json").write_text(json.dumps({
        "input_layers": ["data"], "output_layers": ["prob"],
        "network_definitions_file_name": "deploy.prototxt",
        "weights_file_name": "weights.caffemodel", "transform": {"data": TRANSFORM},
    }))
    return folder


def images() -> dict[str, bytes]:
    """Photos of several formats and sizes, named without extensions that would tell."""
    found = {}
    for index, (height, width) in enumerate([(32, 40), (240, 320), (300, 200), (33, 97)]):
        colour = photo(height, width, seed=index)
        found[f"p{index}_png"] = encode(colour, ".png")
        found[f"p{index}_jpeg"] = encode(colour, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85)
        found[f"p{index}_bmp"] = encode(colour, ".bmp")
    found["tiff"] = encode(photo(50, 60, seed=7), ".tiff")
    found["webp"] = encode(photo(50, 60, seed=8), ".webp", cv2.IMWRITE_WEBP_QUALITY, 101)
    found["alpha"] = encode(photo(64, 64, 4, seed=9), ".png")
    found["deep"] = encode(photo(64, 48, 3, seed=10, dtype=np.uint16), ".png")
    found["grey"] = encode(photo(64, 48, 1, seed=12), ".png")
    found["exif"] = with_orientation(encode(photo(48, 80, seed=13), ".jpg"), 8)
    return found


def opencv_probs(model: Path, files: dict[str, Path]) -> dict[str, np.ndarray]:
    """What an OpenCV 4 user gets for each file: imread, blobFromImage, forward."""
    net = cv2.dnn.readNetFromCaffe(str(model / "deploy.prototxt"), str(model / "weights.caffemodel"))
    out = {}
    for key, path in files.items():
        blob = cv2.dnn.blobFromImage(cv2.imread(str(path), cv2.IMREAD_COLOR),
                                     scalefactor=TRANSFORM["scale"], size=(SHAPE[3], SHAPE[2]),
                                     mean=tuple(TRANSFORM["mean"]), swapRB=True, crop=True)
        net.setInput(blob)
        out[key] = net.forward("prob")[0].copy()
    return out


def check_results(found: dict[str, bytes], expected: dict[str, np.ndarray]) -> None:
    for key, probs in expected.items():
        values = np.array(json.loads(found[key])[key]["prob"], np.float32)
        scale = float(np.abs(probs).max())
        np.testing.assert_allclose(values, probs, rtol=1e-4, atol=1e-5 * scale, err_msg=key)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for key, data in images().items():
        (folder / key).write_bytes(data)
    return folder


def test_a_folder_of_images_scores_as_opencv_does(colour_model, image_folder, tmp_path):
    out = tmp_path / "out"
    summary = run_batch(load_model(colour_model), Location(str(image_folder)), Location(str(out)),
                        RunOptions("images", batch_size=5))
    assert (summary.status, summary.scored, summary.failed) == ("SUCCESS", 18, 0), summary.errors
    files = {path.name: path for path in image_folder.iterdir()}
    check_results({key: (out / key).read_bytes() for key in files},
                  opencv_probs(colour_model, files))


def test_a_bucket_of_images_scores_as_opencv_does(colour_model, image_folder, s3_server):
    source, target = s3_server.create_bucket(), s3_server.create_bucket()
    s3_server.upload(source, {p.name: p.read_bytes() for p in image_folder.iterdir()},
                     prefix="photos/")
    summary = run_batch(load_model(colour_model), s3_server.location(f"s3://{source}/photos"),
                        s3_server.location(f"s3://{target}"), RunOptions("s3-images"))
    assert (summary.status, summary.scored) == ("SUCCESS", 18), summary.errors
    files = {path.name: path for path in image_folder.iterdir()}
    check_results(s3_server.download(target), opencv_probs(colour_model, files))


def test_bad_images_get_their_codes_and_the_good_ones_are_scored(tmp_path):
    """LeNet takes grey 28x28; the corpus's colour image comes with grayscale off (--transform)."""
    folder = tmp_path / "in"
    folder.mkdir()
    good = {f"digit_{i}.png": encode(photo(28, 28, 1, seed=i), ".png") for i in range(30)}
    for key, data in {**good, **{k: v for k, (v, _) in CORPUS.items()}}.items():
        (folder / key).write_bytes(data)
    transform = tmp_path / "transform.json"
    transform.write_text(json.dumps({"data": {"scale": 0.00390625, "grayscale": False}}))
    result = subprocess.run(
        [sys.executable, "-c", "from caffebatch.cli import main; main()", "score", str(LENET),
         "--input", str(folder), "--output", str(tmp_path / "out"), "--run-id", "bad",
         "--transform", str(transform), "--max-error-ratio", "0.5",
         "--max-image-pixels", "1000000"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith(f"PARTIAL_SUCCESS: 30 scored, {len(CORPUS)} failed")
    errors = [json.loads(line) for line in
              (tmp_path / "out/_caffebatch/bad/errors.jsonl").read_text().splitlines()]
    assert {e["input"]: e["code"] for e in errors} == {k: code for k, (_, code) in CORPUS.items()}
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file()) == sorted(good)


class _BatchSizes:
    """A real Scorer that notes the size of each batch it is called with."""

    def __init__(self, scorer) -> None:
        self.scorer, self.layouts, self.sizes = scorer, scorer.layouts, []

    def __call__(self, feeds):
        self.sizes.append(len(next(iter(feeds.values()))))
        return self.scorer(feeds)


def test_a_folder_of_images_is_scored_in_whole_batches(colour_model, tmp_path):
    """The byte budget charges a listed file by its size: a guess per number (a JSON record's
    worst case, 1 MB for these images) cut a folder of 224x224 JPEGs to chunks of 6 where the
    batch was 32."""
    from caffebatch.runtime.scorer import Scorer

    folder = tmp_path / "small"
    folder.mkdir()
    for index in range(18):
        (folder / f"img{index:02d}.jpg").write_bytes(
            encode(photo(32, 40, seed=index), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90))
    model = load_model(colour_model)
    scorer = _BatchSizes(Scorer(model.onnx.SerializeToString(), threads=1))
    # 4 MiB a chunk: 4 records at 1 MB each, all 8 at 14x their 1-2 kB of JPEG
    summary = run_batch(model, Location(str(folder)), Location(str(tmp_path / "out")),
                        RunOptions("whole-batches", batch_size=8,
                                   max_inflight_bytes=8 * 1024 * 1024), scorer=scorer)
    assert (summary.status, summary.scored) == ("SUCCESS", 18), summary.errors
    assert sorted(scorer.sizes, reverse=True) == [8, 8, 2]
