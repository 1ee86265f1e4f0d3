"""Fixtures shared by every test folder: the session's PostgreSQL cluster (tests/postgres.py),
the password cost of the suite, and a folder of engine choices of each test's own."""

import os

import pytest

from tests.postgres import postgres, postgres_url  # noqa: F401 (fixtures)

# Passwords hash at scrypt N=2**14 in the suite (the lowest cost the settings allow), not the
# default 2**17: that costs 1.5 s a sign-in here, and the suite signs in hundreds of times.
# Servers the tests start inherit it. tests/service/test_passwords.py checks the default.
os.environ.setdefault("CAFFEBATCH_PASSWORD_SCRYPT_N", str(2**14))


@pytest.fixture(autouse=True)
def engine_choices(tmp_path_factory, monkeypatch):
    """The folder where this test's CLI runs keep `engine = auto`'s choices
    (runtime/choice_cache.py): never the user's ~/.cache, never another test's."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("CAFFEBATCH_CACHE_DIR", str(folder))
    return folder / "engine-choices"
