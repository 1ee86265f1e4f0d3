"""The service secret that Settings generates into the home folder when none is set."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from caffebatch.errors import CaffebatchError
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
