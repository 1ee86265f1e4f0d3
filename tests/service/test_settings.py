"""Settings: the service secret it generates into the home folder, and its environment names."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from caffebatch.errors import CaffebatchError
from caffebatch.jobs import RunOptions
from caffebatch.package import PackageLimits
from caffebatch.service.spec import RunChoices
from caffebatch.settings import SECRET_FILE, Settings


def test_a_generated_secret_is_private_kept_and_shared(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ThreadPoolExecutor(8) as pool:  # servers starting at once agree on one secret
        found = set(pool.map(lambda _: Settings(home=home).signing_secret(), range(8)))
    assert len(found) == 1 and len(found.pop()) >= 32
    path = home / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [SECRET_FILE]  # no temporary file left
    assert Settings(home=home).signing_secret() == path.read_text().encode()


def test_an_empty_secret_file_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("\n")
    with pytest.raises(CaffebatchError, match="secret.key is empty"):
        Settings(home=tmp_path).signing_secret()


def test_a_set_secret_wins_over_the_file(tmp_path: Path) -> None:
    assert Settings(home=tmp_path, secret_key="mine").signing_secret() == b"mine"
    assert not (tmp_path / SECRET_FILE).exists()


def test_the_documented_variables_set_the_grouped_settings(monkeypatch, tmp_path: Path) -> None:
    for name, value in {
        "CAFFEBATCH_RAY_ADDRESS": "auto", "CAFFEBATCH_RAY_NUM_CPUS": "3",
        "CAFFEBATCH_RAY_CPUS_PER_ACTOR": "0.5", "CAFFEBATCH_MAX_PACKAGE_BYTES": "4096",
        "CAFFEBATCH_MAX_UNPACKED_BYTES": "8192", "CAFFEBATCH_MAX_PACKAGE_FILES": "7",
        "CAFFEBATCH_MAX_CONCURRENT_RUNS": "5", "CAFFEBATCH_MAX_INFLIGHT_MIB": "64",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path)
    assert (settings.ray.address, settings.ray.num_cpus, settings.ray.cpus_per_actor) == (
        "auto", 3, 0.5)
    assert settings.packages == PackageLimits(
        max_archive_bytes=4096, max_unpacked_bytes=8192, max_files=7)
    assert settings.max_concurrent_runs == 5
    assert settings.max_inflight_mib == 64


def test_the_server_byte_budget_reaches_the_run_and_has_the_run_default(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.max_inflight_mib * 1024 * 1024 == RunOptions(run_id="r").max_inflight_bytes
    choices = RunChoices.model_validate({"batch_size": 4, "max_inflight_bytes": 1 << 40})
    options = choices.run_options("r", None, 1.0, 64 * 1024 * 1024)
    assert (options.batch_size, options.max_inflight_bytes) == (4, 64 * 1024 * 1024)
    with pytest.raises(ValidationError, match="max_inflight_mib"):
        Settings(home=tmp_path, max_inflight_mib=0)


def test_the_package_limits_have_one_set_of_defaults(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).packages == PackageLimits()
