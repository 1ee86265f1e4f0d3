"""Image objects: told apart by content, sized from their header, bad ones given their codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from caffebatch.errors import RecordError
from caffebatch.inputs import InputSpec, TransformSpec
from caffebatch.inputs.formats import decode
from caffebatch.inputs.headers import kind_of
from caffebatch.inputs.transform import resolve
from tests.inputs.bad_images import CORPUS
from tests.inputs.samples import kinds

GREY = (1, 28, 28)
LIMIT = 1 << 24


def spec_for(shape=GREY, grayscale: bool | None = False, max_pixels: int = 10_000_000) -> InputSpec:
    transform = resolve(TransformSpec(grayscale=grayscale), "data", shape, Path("."))
    return InputSpec({"data": shape}, {"data": transform}, max_pixels)


@pytest.mark.parametrize("name", sorted(kinds()))
def test_every_kind_is_sniffed_and_sized_from_its_header(name):
    data = kinds()[name]
    kind = kind_of(data)
    assert kind is not None and kind.size is not None
    stored = (45, 61)  # EXIF rotation happens after decoding; the header has the stored size
    assert kind.size(data) == stored


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_images_get_their_codes(name):
    data, code = CORPUS[name]
    with pytest.raises(RecordError) as caught:
        decode(name, data, spec_for(), LIMIT)
    assert caught.value.code == code, caught.value.message


def test_the_bomb_is_refused_before_decoding():
    data, _ = CORPUS["bomb_png"]
    with pytest.raises(RecordError, match="100000x100000 pixels, over the limit of 10,000,000"):
        decode("bomb", data, spec_for(), LIMIT)


def test_the_pixel_limit_is_the_specs():
    data = kinds()["grey_png"]  # 45 x 61 = 2745 pixels
    assert decode("ok", data, spec_for(max_pixels=2745), LIMIT).arrays["data"].shape == GREY
    with pytest.raises(RecordError) as caught:
        decode("big", data, spec_for(max_pixels=2744), LIMIT)
    assert caught.value.code == "too_many_pixels"


def test_a_grey_image_fits_a_grey_layer_without_the_grayscale_flag():
    assert decode("g", kinds()["grey_png"], spec_for(), LIMIT).arrays["data"].shape == GREY


def test_an_image_for_a_model_without_an_image_input_says_why():
    spec = InputSpec({"a": (3, 4, 5), "b": (3, 4, 5)})
    with pytest.raises(RecordError, match=r"an image fills one input, but the model has 2") as caught:
        decode("x.png", kinds()["png"], spec, LIMIT)
    assert caught.value.code == "not_an_image_input"
    with pytest.raises(RecordError, match=r"input 'v' has shape \[10\]"):
        decode("x.png", kinds()["png"], InputSpec({"v": (10,)}), LIMIT)


def test_json_records_still_decode_through_the_dispatch():
    record = decode("r.json", b'{"data": [[[1.5]]]}', InputSpec({"data": (1, 1, 1)}), LIMIT)
    assert record.arrays["data"].tolist() == [[[1.5]]]
    with pytest.raises(RecordError) as caught:
        decode("e", b"", InputSpec({"data": (1,)}), LIMIT)
    assert caught.value.code == "empty"


def test_without_opencv_images_are_a_record_error_naming_the_extra(tmp_path):
    """OpenCV blocked in a fresh interpreter, as when the `images` extra is not installed."""
    image = tmp_path / "x.png"
    image.write_bytes(kinds()["grey_png"])
    code = f"""
import sys
sys.modules["cv2"] = None
from pathlib import Path
from caffebatch.errors import RecordError
from caffebatch.inputs import InputSpec, TransformSpec
from caffebatch.inputs.formats import decode
from caffebatch.inputs.transform import resolve
t = resolve(TransformSpec(), "data", (1, 28, 28), Path("."))
try:
    decode("x.png", Path({str(image)!r}).read_bytes(), InputSpec({{"data": (1, 28, 28)}}, {{"data": t}}), 1 << 20)
except RecordError as error:
    print(error.code, error.message)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.startswith("images_unavailable ")
    assert "pip install 'caffebatch[images]'" in result.stdout
