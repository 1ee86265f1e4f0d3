"""The store's tests run on a SQLite file and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caffebatch.store import Database
from tests.postgres import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh store, its tables made by the migrations, on `backend`."""
    database = Database(database_url(request, backend, tmp_path))
    database.migrate()
    yield database
    database.dispose()
