"""Decoding and validating input objects: the bad-input corpus, code by code."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from caffebatch.errors import RecordError
from caffebatch.jobs.records import decode
from tests.jobs.bad_inputs import CORPUS, GOOD, LIMIT, image

INPUTS = {"data": (1, 28, 28)}


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 30
    assert len({code for _, code in CORPUS.values()}) >= 10


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_input_gets_its_code(name):
    data, code = CORPUS[name]
    with pytest.raises(RecordError) as caught:
        decode(name, data, INPUTS, LIMIT)
    assert caught.value.code == code
    assert caught.value.message  # says what was expected and what came


def test_good_input_with_and_without_the_leading_one():
    for document in ({"data": image()}, {"data": image(shape=(1, 28, 28))}):
        record = decode("k", orjson.dumps(document), INPUTS, LIMIT)
        assert record.key == "k"
        assert record.arrays["data"].shape == (1, 28, 28)
        assert record.arrays["data"].dtype == np.float32
        assert float(record.arrays["data"].max()) == 0.5


def test_a_utf8_byte_order_mark_is_accepted():
    with_mark = decode("k", b"\xef\xbb\xbf" + GOOD, INPUTS, LIMIT)
    without = decode("k", GOOD, INPUTS, LIMIT)
    np.testing.assert_array_equal(with_mark.arrays["data"], without.arrays["data"])


def test_the_word_true_in_a_key_does_not_refuse_numbers():
    inputs = {"is_true": (2,)}
    record = decode("k", b'{"is_true": [1, 0.5]}', inputs, LIMIT)
    assert record.arrays["is_true"].tolist() == [1.0, 0.5]


def test_a_duplicate_key_names_the_key():
    with pytest.raises(RecordError) as caught:
        decode("k", CORPUS["duplicate_key"][0], INPUTS, LIMIT)
    assert "'data'" in caught.value.message


def test_escaped_quotes_in_strings_are_not_duplicate_keys():
    with pytest.raises(RecordError) as caught:
        decode("k", b'{"data": ["a\\"b", "c"]}', INPUTS, LIMIT)
    assert caught.value.code == "not_numeric"


def test_integers_are_numbers():
    record = decode("k", orjson.dumps({"data": image(1)}), INPUTS, LIMIT)
    assert record.arrays["data"].sum() == 28 * 28


def test_messages_name_expected_and_actual():
    with pytest.raises(RecordError) as caught:
        decode("k", orjson.dumps({"data": image(shape=(1, 1, 27, 28))}), INPUTS, LIMIT)
    assert "[1, 28, 28]" in caught.value.message and "[1, 1, 27, 28]" in caught.value.message
    with pytest.raises(RecordError) as caught:
        decode("k", orjson.dumps({"data": image(), "label": 1}), INPUTS, LIMIT)
    assert "'label'" in caught.value.message


def test_exactly_the_limit_is_allowed():
    assert decode("k", GOOD, INPUTS, len(GOOD)).key == "k"
    with pytest.raises(RecordError) as caught:
        decode("k", GOOD, INPUTS, len(GOOD) - 1)
    assert caught.value.code == "too_large"
