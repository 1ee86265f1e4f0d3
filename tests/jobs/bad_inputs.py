"""A corpus of bad input objects for LeNet (input "data", 1x28x28), each with its error code."""

from __future__ import annotations

import json

LIMIT = 64 * 1024  # the record size limit the corpus is run with


def image(value: object = 0.5, shape: tuple[int, ...] = (1, 1, 28, 28)) -> object:
    if not shape:
        return value
    return [image(value, shape[1:]) for _ in range(shape[0])]


def with_cell(value: object) -> dict:
    """A good image with one cell replaced by `value`."""
    data = image()
    data[0][0][3][4] = value
    return {"data": data}


def dumps(document: object) -> bytes:
    return json.dumps(document).encode()


GOOD = dumps({"data": image()})
DEEP = 700
ROW = b"[" + b", ".join([b"0.5"] * 28) + b"]"
IMAGE = b"[[" + b", ".join([ROW] * 28) + b"]]"
TEXT = '{"data": [[[0.5]]]}'

# name -> (object bytes, expected code)
CORPUS: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty"),
    "whitespace_only": (b"   \n", "invalid_json"),
    "not_json": (b"hello, world", "invalid_json"),
    "truncated": (GOOD[: len(GOOD) // 2], "invalid_json"),
    "trailing_garbage": (GOOD + b"}", "invalid_json"),
    "single_quotes": (b"{'data': [1]}", "invalid_json"),
    "comment": (b"// c\n" + GOOD, "invalid_json"),
    "top_level_array": (dumps([image()]), "not_an_object"),
    "top_level_number": (b"42", "not_an_object"),
    "top_level_string": (b'"data"', "not_an_object"),
    "top_level_null": (b"null", "not_an_object"),
    "empty_object": (b"{}", "missing_input"),
    "wrong_key": (dumps({"image": image()}), "missing_input"),
    "key_case": (dumps({"Data": image()}), "missing_input"),
    "extra_key": (dumps({"data": image(), "label": 3}), "unexpected_key"),
    "scalar_value": (dumps({"data": 0.5}), "wrong_shape"),
    "rank_too_low": (dumps({"data": image(shape=(28, 28))}), "wrong_shape"),
    "rank_too_high": (dumps({"data": image(shape=(1, 1, 1, 28, 28))}), "wrong_shape"),
    "wrong_height": (dumps({"data": image(shape=(1, 1, 27, 28))}), "wrong_shape"),
    "wrong_channels": (dumps({"data": image(shape=(1, 3, 28, 28))}), "wrong_shape"),
    "leading_two": (dumps({"data": image(shape=(2, 1, 28, 28))}), "wrong_shape"),
    "empty_array": (dumps({"data": []}), "wrong_shape"),
    "ragged_rows": (dumps({"data": [[[0.5] * 28] * 27 + [[0.5] * 27]]}), "ragged"),
    "string_value": (dumps({"data": "0.5"}), "not_numeric"),
    "string_cell": (dumps(with_cell("0.5")), "not_numeric"),
    "null_value": (dumps({"data": None}), "not_numeric"),
    "null_cell": (dumps(with_cell(None)), "not_numeric"),
    "boolean_image": (dumps({"data": image(True)}), "not_numeric"),
    "boolean_cell": (dumps(with_cell(True)), "not_numeric"),
    "false_cell": (dumps(with_cell(False)), "not_numeric"),
    "boolean_among_integers": (dumps({"data": [[[1] * 27 + [True]] * 28]}), "not_numeric"),
    "duplicate_key": (b'{"data": ' + IMAGE + b', "data": ' + IMAGE + b"}", "duplicate_key"),
    "duplicate_nested_key": (b'{"data": {"v": 1, "v": 2}}', "duplicate_key"),
    "object_cell": (dumps(with_cell({"v": 1})), "not_numeric"),
    "nan": (dumps(with_cell(float("nan"))), "not_finite"),
    "infinity": (dumps(with_cell(float("inf"))), "not_finite"),
    "minus_infinity": (dumps(with_cell(float("-inf"))), "not_finite"),
    "huge_double": (GOOD.replace(b"0.5", b"1e999", 1), "not_finite"),
    "beyond_float32": (dumps(with_cell(1e39)), "not_finite"),
    "deep_nesting": (b'{"data": ' + b"[" * DEEP + b"0.5" + b"]" * DEEP + b"}", "too_deep"),
    "very_deep_nesting": (b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
    "oversized": (b'{"data": [' + b"0.5, " * (LIMIT // 4) + b"0.5]}", "too_large"),
    "latin1_bytes": (b'{"data": "caf\xe9"}', "not_utf8"),
    "invalid_utf8_start": (b"\xff\xfe{}", "not_utf8"),
    "utf16": ('{"data": [1]}'.encode("utf-16"), "not_utf8"),
    "utf16le_no_bom": (TEXT.encode("utf-16-le"), "not_utf8"),
    "utf16be_no_bom": (TEXT.encode("utf-16-be"), "not_utf8"),
    "utf32le_no_bom": (TEXT.encode("utf-32-le"), "not_utf8"),
    "utf32be_no_bom": (TEXT.encode("utf-32-be"), "not_utf8"),
    "utf32_bom": (TEXT.encode("utf-32"), "not_utf8"),
    "lone_high_surrogate": (b'{"data": "\\ud800"}', "not_utf8"),
    "lone_low_surrogate": (b'{"data": "\\udc00"}', "not_utf8"),
    "two_boms": (b"\xef\xbb\xbf" * 2 + GOOD, "invalid_json"),  # one is accepted, not two
    "bom_then_nan": (b"\xef\xbb\xbf" + dumps(with_cell(float("nan"))), "not_finite"),
    "nan_after_non_ascii": ('{"dé": [NaN]}'.encode(), "not_finite"),
    "nan_like_word": (b'{"data": [NaNa]}', "invalid_json"),
}

# Objects that are bad for what they are, not for what they hold: kind -> the code of the
# record error a run reports (tests/jobs/odd_objects.py plants each kind).
OBJECT_KINDS: dict[str, str] = {
    "unreadable_file": "unreadable",            # EACCES on one local file
    "io_error": "unreadable",                   # EIO on one local file
    "non_utf8_name": "invalid_name",            # b"caf\xe9.json" in a local folder
    "s3_leading_slash": "invalid_name",         # the key "/x.json" at the bucket's root
    "s3_double_slash": "invalid_name",          # the key "in//x.json" under the prefix "in"
    "s3_dot_key": "invalid_key",                # the key "in/." names no result
    "s3_access_denied": "permission_denied",    # 403 AccessDenied for one object
    "s3_archived": "archived",                  # InvalidObjectState: a GLACIER object
    "s3_damaged": "corrupt",                    # never matches its checksum
    "name_too_long_for_target": "output_name_too_long",  # a 300-byte key, a local target
    "reserved_name": "reserved_name",           # an input named "_caffebatch"
}

# Listed objects that are not inputs at all: kind -> the skip reason of their listing entry.
SKIP_KINDS: dict[str, str] = {
    "hidden_file": "hidden",
    "folder_named_like_a_record": "nested",
    "s3_nested_prefix": "nested",
    "fifo": "not_a_regular_file",
    "socket": "not_a_regular_file",
    "dangling_link": "not_a_regular_file",
}

# The limits the JSON Lines corpus is run with
JSONL_LINES = 8
JSONL_BYTES = 16 * len(GOOD)


def lines(*records: bytes) -> bytes:
    return b"".join(record + b"\n" for record in records)


# JSON Lines objects with bad lines: name -> (object bytes, {"#<line>" or "" (the whole
# object): expected code}); the lines not named are good and scored.
JSONL_CORPUS: dict[str, tuple[bytes, dict[str, str]]] = {
    "bad_line": (lines(GOOD, b"[]", GOOD), {"#2": "not_an_object"}),
    "every_line_bad": (lines(b"[]", b"42", b'{"data": 1}'),
                       {"#1": "not_an_object", "#2": "not_an_object", "#3": "wrong_shape"}),
    "blank_lines_count": (lines(GOOD, b"", b"  ", b"{}"), {"#4": "missing_input"}),
    "truncated_last_line": (GOOD + b"\n" + GOOD[: len(GOOD) // 2], {"#2": "invalid_json"}),
    "pretty_printed": (b'{\n  "data": ' + dumps(image()) + b"\n}\n",
                       {"#1": "invalid_json", "#2": "invalid_json", "#3": "invalid_json"}),
    "line_not_utf8": (lines(GOOD, b'{"data": "caf\xe9"}'), {"#2": "not_utf8"}),
    "line_not_finite": (lines(dumps(with_cell(1e39)), GOOD), {"#1": "not_finite"}),
    "line_too_deep": (lines(GOOD, b'{"data": ' + b"[" * DEEP + b"0.5" + b"]" * DEEP + b"}"),
                      {"#2": "too_deep"}),
    "empty": (b"", {"": "empty"}),
    "all_blank": (b"\n \n\r\n", {"": "empty"}),
    "utf16": (lines(GOOD).decode().encode("utf-16"), {"": "not_utf8"}),
    "too_many_lines": (lines(*[b"{}"] * (JSONL_LINES + 1)), {"": "too_many_lines"}),
    "oversized": (lines(*[GOOD] * 17), {"": "too_large"}),
}
