"""The extras table names the modules pyproject.toml's extras install, and a command whose
extra is missing says which `pip install` brings it (tests/test_install.py sees it for real,
in a venv with the core install only)."""

from __future__ import annotations

from importlib.metadata import packages_distributions

import pytest
from click.testing import CliRunner
from packaging.utils import canonicalize_name

from caffebatch.cli import NEEDS_EXTRA, main
from caffebatch.errors import ExtraMissingError
from caffebatch.extras import EXTRA_MODULES, missing, require
from tests.packaging_files import requirements


@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_each_module_comes_from_a_distribution_of_its_extra(extra: str) -> None:
    core = {canonicalize_name(r.name) for r in requirements()}
    declared = {canonicalize_name(r.name) for r in requirements(extra)} - core
    installed_by = packages_distributions()
    for module in EXTRA_MODULES[extra]:
        sources = {canonicalize_name(name) for name in installed_by.get(module, [])}
        assert sources & declared, f"{module} ({sources}) is not installed by [{extra}]"
    assert missing(extra) == []


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRA_MODULES, "service", ("fastapi", "no_such_module_here"))
    with pytest.raises(ExtraMissingError, match=r"no_such_module_here not installed.*"
                       r"pip install 'caffebatch\[service\]'"):
        require("service", "`caffebatch serve`")
    assert set(NEEDS_EXTRA) == {"serve", "admin"}
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 2
    assert "pip install 'caffebatch[service]'" in result.output
