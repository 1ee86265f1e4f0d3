"""Service tests that touch the store run on a SQLite file and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caffebatch.service.context import ServiceContext, open_context
from caffebatch.settings import Settings
from tests.postgres import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url(request, backend, tmp_path),
        admin_password="test-password",
        secret_key="test-secret",
        poll_interval_s=0.05,
    )


@pytest.fixture
def context(settings: Settings) -> Iterator[ServiceContext]:
    ctx = open_context(settings)
    yield ctx
    ctx.db.dispose()
