"""JSON Lines objects: told by name and content, decoded line by line with each line's code,
and the result lines a rerun keeps."""

from __future__ import annotations

import numpy as np
import pytest

from caffebatch.errors import RecordError
from caffebatch.inputs import formats
from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs.batches import encode, result_lines
from caffebatch.jobs.records import Record
from tests.inputs.samples import encode as encode_image
from tests.inputs.samples import photo
from tests.jobs.bad_inputs import GOOD, JSONL_BYTES, JSONL_CORPUS, JSONL_LINES, LIMIT, lines

SPEC = InputSpec({"data": (1, 28, 28)}, max_jsonl_bytes=JSONL_BYTES, max_jsonl_lines=JSONL_LINES)


def codes_of(key: str, data: bytes) -> dict[str, str]:
    """What decoding `key` reports: {"#n" or "": code}, the lines that decoded left out."""
    if len(data) > formats.object_limit(key, SPEC, LIMIT):
        return {"": "too_large"}  # the pipeline's check before reading (as load does)
    try:
        loaded = formats.decode(key, data, SPEC, LIMIT)
    except RecordError as error:
        return {"": error.code}
    assert isinstance(loaded, formats.Lines)
    return {name.removeprefix(key): error.code for name, error in loaded.errors}


@pytest.mark.parametrize("name", sorted(JSONL_CORPUS))
def test_each_bad_jsonl_kind_gets_its_codes(name):
    data, expected = JSONL_CORPUS[name]
    assert codes_of(f"{name}.jsonl", data) == expected


def test_lines_are_records_keyed_by_line_number_blank_lines_counted():
    data = lines(GOOD, b"", GOOD.replace(b"0.5", b"0.25"), b"[]") + b"\r\n"
    loaded = formats.decode("k.jsonl", data, SPEC, LIMIT)
    assert isinstance(loaded, formats.Lines)
    assert loaded.order == ("k.jsonl#1", "k.jsonl#3", "k.jsonl#4")
    assert [record.key for record in loaded.records] == ["k.jsonl#1", "k.jsonl#3"]
    assert loaded.records[1].arrays["data"][0, 0, 0] == np.float32(0.25)
    assert [(key, error.code) for key, error in loaded.errors] == [("k.jsonl#4", "not_an_object")]


def test_the_name_and_the_content_pick_the_format():
    two = lines(GOOD, GOOD)
    with pytest.raises(RecordError) as refused:  # not named .jsonl: one JSON object, refused
        formats.decode("k.json", two, SPEC, LIMIT)
    assert refused.value.code == "invalid_json"
    assert isinstance(formats.decode("k.jsonl", two, SPEC, LIMIT), formats.Lines)
    png = encode_image(photo(30, 30, channels=1), ".png")
    with pytest.raises(RecordError) as image:  # an image named .jsonl is still an image
        formats.decode("k.jsonl", png, SPEC, LIMIT)
    assert image.value.code == "not_an_image_input"  # this model declares no transform
    assert [f.name for f in formats.formats()][:2] == ["image", "jsonl"]
    assert formats.groups("k.jsonl") and not formats.groups("k.json")
    assert formats.object_limit("k.jsonl", SPEC, LIMIT) == JSONL_BYTES
    assert formats.object_limit("k.json", SPEC, LIMIT) == LIMIT


def test_a_format_registers_once():
    formats.formats()
    with pytest.raises(ValueError, match="twice"):
        formats.input_format("jsonl", bool)(lambda key, data, spec: Record(key, {}))


def test_whole_result_lines_are_kept_and_damaged_ones_are_not():
    one = encode("k.jsonl#1", {"prob": np.arange(3, dtype=np.float32)})
    four = encode("k.jsonl#4", {"prob": np.ones(2, dtype=np.float32)})
    other = encode("k.jsonl2#5", {"prob": np.ones(2, dtype=np.float32)})
    data = b"\n".join([one, four[:-5], other, b'{"k.jsonl#x":{}}', four, b""])
    assert result_lines("k.jsonl", data) == {"k.jsonl#1": one, "k.jsonl#4": four}
    assert result_lines("k.jsonl", b"") == {}
