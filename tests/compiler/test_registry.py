"""The converter registry: built-in modules listed explicitly, duplicates refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from caffebatch.compiler import converters as converters_package
from caffebatch.compiler import registry
from caffebatch.compiler.registry import BUILTIN_MODULES, converter_for, converters, converts


def test_every_converter_module_is_listed():
    folder = Path(converters_package.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert set(BUILTIN_MODULES) == modules
    assert len(BUILTIN_MODULES) == len(set(BUILTIN_MODULES))


def test_a_second_converter_for_a_layer_type_is_refused():
    relu = converter_for("ReLU")

    def another(layer, inputs, g):
        return []

    with pytest.raises(ValueError, match="a converter for 'ReLU' is already registered"):
        converts("NotALayerYet", "ReLU")(another)
    assert converter_for("ReLU") is relu
    assert "NotALayerYet" not in converters()  # refused whole, not half-registered


def test_a_new_layer_type_registers_once():
    def probe(layer, inputs, g):
        return []

    try:
        assert converts("RegistryProbe")(probe) is probe
        assert converter_for("RegistryProbe") is probe
        with pytest.raises(ValueError, match="'RegistryProbe' is already registered"):
            converts("RegistryProbe")(probe)
    finally:
        registry._CONVERTERS.pop("RegistryProbe", None)
