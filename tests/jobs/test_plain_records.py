"""The fast path of decode gives the exact path's arrays bit for bit, or leaves the record to it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caffebatch.errors import RecordError
from caffebatch.jobs.plain_records import plain_arrays, walks
from caffebatch.jobs.records import UTF8_BOM, decode, decode_exactly
from tests.jobs.bad_inputs import CORPUS, GOOD, JSONL_CORPUS, LIMIT

ROOT = Path(__file__).resolve().parents[2]
INPUTS = {"data": (1, 28, 28)}

# walk_from for each proof of the shape on every record: the skeleton, the walk and count.
PROOFS = {"skeleton": sys.maxsize, "walk": 0}
each_proof = pytest.mark.parametrize("walk_from", PROOFS.values(), ids=PROOFS)

# Numbers where rounding is hard: halfway cases, subnormals of float64 and float32, the
# edges of both ranges, -0 as an integer (+0.0) and as a float (-0.0), 2**53 + 1.
HARD_NUMBERS = [
    "0", "-0", "-0.0", "0e0", "-0e-0", "0.0e+00", "1E5", "1e+05", "-1e-05",
    "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
    "2.2250738585072011e-308", "2.2250738585072014e-308", "1e-400", "-1e-400",
    "1.7976931348623157e308", "1.401298464324817e-45", "7.006492321624085e-46",
    "7.006492321624087e-46", "1.1754942e-38", "3.4028234663852886e38", "3.4028235677973366e38",
    "3.402823669209385e38", "0.1000000000000000055511151231257827021181583404541015625",
    "0.30000000000000004", "9007199254740991", "-9007199254740991", "9007199254740992",
    "9007199254740993", "16777217", "16777216.5", "33554435", "123456789012345678901234567890",
    "0." + "1" * 800, "1" + "0" * 300 + ".5e-300", "0." + "0" * 400 + "1e400",
    "2.000000059604644775390625", "2.0000000596046447753906251", "1.00000005960464477539062499",
    "1e-99999", "-1e-99999", "0." + "0" * 5000 + "1e5000",
]

# JSON numbers of every form: sign, integer part (long ones too), fraction, exponent.
NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(HARD_NUMBERS),
)
# The same forms within +-2**53, where the fast path answers: a long row of NUMBER_TEXT
# almost always holds a number beyond.
NUMBER_TEXT_WITHIN_BOUND = st.one_of(
    st.floats(-(2.0**52), 2.0**52).map(repr),
    st.floats(-(2.0**52), 2.0**52, width=32).map(repr),
    st.integers(-(2**53) + 1, 2**53 - 1).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,5})(\.[0-9]{1,40})?([eE][+-]?[0-9])?", fullmatch=True),
)
SPACES = st.sampled_from(["", " ", "\n", "\t ", "\r\n  "])


@st.composite
def plain_records(draw: st.DrawFn) -> tuple[bytes, dict[str, tuple[int, ...]]]:
    """A record of one or two inputs of random shapes, written with random spacing.

    Some rows are long, so that records.decode's rule takes the walk for them.
    """
    numbers = draw(st.sampled_from([NUMBER_TEXT, NUMBER_TEXT_WITHIN_BOUND]))
    names = draw(st.lists(st.sampled_from(["data", "im_info", "e1", "a b", "x[0]"]), min_size=1,
                          max_size=2, unique=True))
    shapes = {}
    for name in names:
        shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
        if draw(st.integers(0, 2)) == 0:  # 500 bytes a row and more
            shape[-1] = draw(st.integers(24, 40))
        shapes[name] = tuple(shape)

    def value(shape: tuple[int, ...]) -> str:
        if not shape:
            return draw(numbers)
        between = draw(SPACES) + "," + draw(SPACES)
        return "[" + draw(SPACES) + between.join(value(shape[1:]) for _ in range(shape[0])) + "]"

    pairs = [f'"{name}"{draw(SPACES)}:{draw(SPACES)}'
             + value((1, *shape) if draw(st.booleans()) else shape) for name, shape in shapes.items()]
    return ("{" + ",".join(draw(st.permutations(pairs))) + "}").encode(), shapes


def bits(arrays: dict[str, np.ndarray]) -> dict[str, object]:
    """Each array's shape, dtype and bytes: equal only if bit for bit equal (-0.0 too)."""
    return {name: (array.shape, array.dtype, array.tobytes()) for name, array in arrays.items()}


def outcome(decoding, *arguments) -> object:
    """The arrays' bits, or the error's code and message."""
    try:
        return bits(decoding(*arguments).arrays)
    except RecordError as error:
        return error.code, error.message


@settings(max_examples=400, deadline=None)
@given(plain_records())
def test_the_fast_path_gives_the_exact_paths_bits(case):
    data, inputs = case
    exact = outcome(decode_exactly, "k", data, inputs)
    for walk_from in PROOFS.values():
        fast = plain_arrays(data, inputs, walk_from=walk_from)
        if fast is not None:
            assert bits(fast) == exact
    assert outcome(decode, "k", data, inputs, LIMIT * 1024) == exact


# What an edit puts in: structure, number characters, the starts of true, false and null.
EDIT_BYTES = st.sampled_from([b"[", b"]", b"{", b"}", b",", b":", b'"', b"-", b"+", b".", b"e",
                              b"0", b"1", b" ", b"t", b"f", b"n", b"\\", b"[]", b"[1]", b"",
                              b"{}", b"null", b"true", b"[1, 2]", b"1, ", b"], [", UTF8_BOM])


@settings(max_examples=400, deadline=None)
@given(plain_records(), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 1), EDIT_BYTES),
                                 min_size=1, max_size=3))
def test_an_edited_record_gets_the_exact_paths_outcome(case, edits):
    """A byte or two inserted, replaced or deleted: the same arrays or the same error."""
    data, inputs = case
    for at, replace, text in edits:
        at %= len(data) + 1
        data = data[:at] + text + data[at + replace:]
    exact = outcome(decode_exactly, "k", data, inputs)
    for walk_from in PROOFS.values():
        fast = plain_arrays(data, inputs, walk_from=walk_from)
        if fast is not None:
            assert bits(fast) == exact
    if data:  # decode takes off one byte order mark before either path
        unmarked = data.removeprefix(UTF8_BOM)
        if unmarked != data:
            exact = outcome(decode_exactly, "k", unmarked, inputs)
        assert outcome(decode, "k", data, inputs, LIMIT * 1024) == exact


@each_proof
@pytest.mark.parametrize("form", ["{!r}", "{:.17g}", "{:.15g}", "{:.9e}", "{:.3g}"])
def test_random_doubles_give_the_exact_paths_bits(form, walk_from):
    """Doubles of random bits below 2**53 (subnormals too), written as Python writes them."""
    rng = np.random.default_rng(14)
    doubles = rng.integers(0, 2**64, 20_000, dtype=np.uint64).view(np.float64)
    doubles = doubles[np.abs(doubles) < 2**53]
    data = ('{"data": [' + ", ".join(form.format(x) for x in doubles.tolist()) + "]}").encode()
    inputs = {"data": (len(doubles),)}
    fast = plain_arrays(data, inputs, walk_from=walk_from)
    assert fast is not None
    assert bits(fast) == outcome(decode_exactly, "k", data, inputs)
    written = np.array([float(form.format(x)) for x in doubles.tolist()]).astype(np.float32)
    assert fast["data"].tobytes() == written.tobytes()


@each_proof
@pytest.mark.parametrize("number", HARD_NUMBERS)
def test_hard_numbers_round_as_the_exact_path_and_python_do(number, walk_from):
    data = ('{"data": [' + number + ", 0.5]}").encode()
    fast = plain_arrays(data, {"data": (2,)}, walk_from=walk_from)
    exact = outcome(decode_exactly, "k", data, {"data": (2,)})
    if fast is None:  # beyond 2**53, float32 or float64: the exact path decides
        assert abs(float(number)) >= 2**53
        return
    assert bits(fast) == exact
    assert fast["data"][0] == np.float32(float(number))


# Plain records with odd but plain parts: brackets in a key, a leading 1 or none where the
# shape starts with 1, two inputs in either order.
ODD_BUT_PLAIN = {
    "bracket_in_key": (b'{"x[": [[1, 2], [3, 4]]}', {"x[": (2, 2)}),
    "brackets_in_key_leading_one": (b'{"[[": [[[1, 2], [3, 4]]]}', {"[[": (2, 2)}),
    "brackets_in_two_keys": (b'{"a]": [1], "b[": [[2]]}', {"a]": (1,), "b[": (1,)}),
    "one_by_one_no_leading_one": (b'{"x": [[5]]}', {"x": (1, 1)}),
    "one_by_one_leading_one": (b'{"x": [[[5]]]}', {"x": (1, 1)}),
    "one_leading_one": (b'{"x": [[5]]}', {"x": (1,)}),
    "starts_with_one_no_leading_one": (b'{"x": [[1, 2]]}', {"x": (1, 2)}),
    "starts_with_one_leading_one": (b'{"x": [[[1, 2]]]}', {"x": (1, 2)}),
    "two_inputs": (b'{"a": [[1, 2], [3, 4]], "b": [[[5, 6, 7]]]}', {"a": (2, 2), "b": (1, 3)}),
    "two_inputs_other_order": (b'{"b": [[5, 6, 7]], "a": [[[1, 2], [3, 4]]]}',
                               {"a": (2, 2), "b": (1, 3)}),
}


@each_proof
def test_numbers_only_records_take_the_fast_path(walk_from):
    digits = sorted((ROOT / "examples/digits/inputs").iterdir())
    spaced = json.dumps({"data": np.linspace(-3, 3, 784).reshape(1, 28, 28).tolist()}, indent=1)
    two = b'{"b": [[1, 2e-3]], "a": [-0.0, 7]}'
    for data, inputs in [(path.read_bytes(), INPUTS) for path in digits[:20]] + [
        (GOOD, INPUTS), (spaced.encode(), INPUTS), (two, {"a": (2,), "b": (2,)}),
        *ODD_BUT_PLAIN.values(),
    ]:
        fast = plain_arrays(data, inputs, walk_from=walk_from)
        assert fast is not None
        assert bits(fast) == outcome(decode_exactly, "k", data, inputs)


def test_lenet_records_take_the_skeleton_and_imagenet_size_records_the_walk():
    """The rule of records.decode; a GoogLeNet-size record's arrays are the exact path's."""
    for path in sorted((ROOT / "examples/digits/inputs").iterdir()):
        assert not walks(path.stat().st_size, INPUTS)
    image = np.random.default_rng(14).random((1, 3, 224, 224), dtype=np.float32)
    data, inputs = json.dumps({"data": image.tolist()}).encode(), {"data": (3, 224, 224)}
    assert walks(len(data), inputs)
    fast = plain_arrays(data, inputs)
    assert fast is not None
    assert bits(fast) == outcome(decode_exactly, "k", data, inputs)
    assert fast["data"].tobytes() == image[0].tobytes()


@each_proof
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_bad_input_is_left_to_the_exact_path(name, walk_from):
    data = CORPUS[name][0].removeprefix(UTF8_BOM)
    assert plain_arrays(data, INPUTS, walk_from=walk_from) is None
    if data and len(data) <= LIMIT:
        assert outcome(decode, name, CORPUS[name][0], INPUTS, LIMIT) == outcome(
            decode_exactly, name, data, INPUTS)


@each_proof
@pytest.mark.parametrize("name", sorted(JSONL_CORPUS))
def test_no_bad_line_takes_the_fast_path(name, walk_from):
    data, codes = JSONL_CORPUS[name]
    for number, line in enumerate(data.split(b"\n"), start=1):
        if f"#{number}" in codes:
            assert plain_arrays(line, INPUTS, walk_from=walk_from) is None


# Text that the fast path must not take as plain: numbers only, or one odd element among them.
LOOKS_PLAIN = {
    "ragged_same_count": (b'{"x": [[1, 2, 3], [4]]}', {"x": (2, 2)}),
    "ragged_same_brackets": (b'{"x": [[1, 2], [3], [4, 5, 6]]}', {"x": (3, 2)}),
    "number_beside_array": (b'{"x": [[1, 2], 3]}', {"x": (2, 2)}),
    "arrays_for_numbers": (b'{"x": [[1], [2]]}', {"x": (2,)}),
    "empty_for_one": (b'{"x": [[], [2]]}', {"x": (2, 1)}),
    "key_twice": (b'{"x": [1, 2], "x": [3, 4]}', {"x": (2,), "y": (2,)}),
    "key_twice_same_count": (b'{"x": [1, 2], "x": [3, 4]}', {"x": (2,)}),
    "escaped_key": (b'{"\\u0078": [1, 2]}', {"x": (2,)}),
    "missing_comma": (b'{"x": [1 2]}', {"x": (2,)}),
    "leading_zero": (b'{"x": [01, 2]}', {"x": (2,)}),
    "bare_point": (b'{"x": [1., 2]}', {"x": (2,)}),
    "plus_sign": (b'{"x": [+1, 2]}', {"x": (2,)}),
    "number_before": (b'5{"x": [1, 2]}', {"x": (2,)}),
    "number_after": (b'{"x": [1, 2]}5', {"x": (2,)}),
    "trailing_comma": (b'{"x": [1, 2],}', {"x": (2,)}),
    "beyond_float32": (b'{"x": [1e39, 2]}', {"x": (2,)}),
    "integer_beyond_2_53": (b'{"x": [9007199254740993, 2]}', {"x": (2,)}),
    "integer_below_minus_2_53": (b'{"x": [2, -9007199254740993]}', {"x": (2,)}),
    "integer_beyond_64_bits": (b'{"x": [123456789012345678901234567890, 2]}', {"x": (2,)}),
    "infinite_double": (b'{"x": [1e400, 2]}', {"x": (2,)}),
    "form_feed": (b'{"x": [1,\x0c2]}', {"x": (2,)}),
    "scalar": (b'{"x": 5}', {"x": ()}),
    "control_character_in_key": (b'{"a\tb": [1]}', {"a\tb": (1,)}),
    "byte_order_mark": (UTF8_BOM + b'{"x": [1, 2]}', {"x": (2,)}),  # simdjson skips it
    "byte_order_mark_after_space": (b" " + UTF8_BOM + b'{"x": [1, 2]}', {"x": (2,)}),
    # as_buffer flattens nested arrays: [3, [4]] gives as many numbers as [3, 4]
    "array_in_a_row": (b'{"x": [[1, 2], [3, [4]]]}', {"x": (2, 2)}),
    "array_first_in_a_row": (b'{"x": [[[1], 2], [3, 4]]}', {"x": (2, 2)}),
    "array_in_a_row_leading_one": (b'{"x": [[[1, 2], [3, [4]]]]}', {"x": (2, 2)}),
    "empty_array_in_a_row": (b'{"x": [[1, 2], [3, []]]}', {"x": (2, 2)}),
    "array_in_a_row_bracket_in_key": (b'{"x[": [[1, 2], [3, [4]]]}', {"x[": (2, 2)}),
    "array_in_a_row_of_the_second_input": (b'{"a": [1, 2], "b": [[1, 2], [[3], 4]]}',
                                            {"a": (2,), "b": (2, 2)}),
    "empty_object_in_a_row": (b'{"x": [[1, 2], [3, {}]]}', {"x": (2, 2)}),
    "empty_object_for_a_row": (b'{"x": [[1, 2], {}]}', {"x": (2, 2)}),
    "true_in_a_row": (b'{"x": [[1, 2], [true, 4]]}', {"x": (2, 2)}),
    "false_in_a_row": (b'{"x": [[1, 2], [3, false]]}', {"x": (2, 2)}),
    "null_in_a_row": (b'{"x": [[null, 2], [3, 4]]}', {"x": (2, 2)}),
    "null_for_a_row": (b'{"x": [[1, 2], null]}', {"x": (2, 2)}),
    "empty_object_value": (b'{"x": {}}', {"x": (1,)}),
    "two_leading_ones": (b'{"x": [[[1, 2]]]}', {"x": (2,)}),
    "ragged_deep": (b'{"x": [[[1, 2], [3, 4]], [[5, 6]]]}', {"x": (2, 2, 2)}),
}


@each_proof
@pytest.mark.parametrize("name", sorted(LOOKS_PLAIN))
def test_text_that_is_not_plain_is_left_to_the_exact_path(name, walk_from):
    data, inputs = LOOKS_PLAIN[name]
    assert plain_arrays(data, inputs, walk_from=walk_from) is None


def with_one_more_or_fewer(value: list, depth: int, more: bool) -> list:
    """`value` with its last array `depth` deep one element longer (a copy) or shorter."""
    if depth:
        return [*value[:-1], with_one_more_or_fewer(value[-1], depth - 1, more)]
    return [*value, value[-1]] if more else value[:-1]


@each_proof
@pytest.mark.parametrize("leading_one", [False, True], ids=["no_leading_one", "leading_one"])
@pytest.mark.parametrize("more", [True, False], ids=["one_more", "one_fewer"])
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_a_row_longer_or_shorter_at_any_depth_is_left_to_the_exact_path(
    depth, more, leading_one, walk_from
):
    shape = (2, 3, 4)
    value = np.arange(24.0).reshape(shape).tolist()
    edited = with_one_more_or_fewer(value, depth, more)
    if leading_one:
        value, edited = [value], [edited]
    for record, plain in [(value, True), (edited, False)]:
        fast = plain_arrays(json.dumps({"x": record}).encode(), {"x": shape}, walk_from=walk_from)
        assert (fast is not None) == plain
