"""UniqueNames: the one generator of unique names (blob values, ONNX values and nodes)."""

from __future__ import annotations

from caffebatch.naming import UniqueNames


def test_a_free_name_is_handed_out_as_asked_then_numbered_from_two():
    names = UniqueNames()
    assert [names.take("relu") for _ in range(3)] == ["relu", "relu#2", "relu#3"]
    assert names.take("conv") == "conv"


def test_reserved_and_numbered_names_are_skipped():
    names = UniqueNames(["a"])
    names.reserve(["a#2", "b"])
    assert names.take("a") == "a#3"
    assert names.take("b") == "b#2"
    assert "a#3" in names and "c" not in names
