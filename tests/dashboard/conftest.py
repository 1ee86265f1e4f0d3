"""Fixtures for the dashboard: an in-process app, a live `caffebatch serve`, S3, and Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from caffebatch.package import pack
from caffebatch.server import create_server
from caffebatch.service.context import ServiceContext, open_context
from caffebatch.service.instances import bootstrap
from caffebatch.settings import Settings
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "examples" / "lenet"
DIGITS = ROOT / "examples" / "digits" / "inputs"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="session")
def lenet_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LeNet example packed as an upload would be."""
    path = tmp_path_factory.mktemp("packages") / "lenet.tar.gz"
    path.write_bytes(pack(LENET))
    return path


# --- in process: fast tests of sessions, CSRF and tenancy

@pytest.fixture
def context(tmp_path: Path) -> ServiceContext:
    settings = Settings(home=tmp_path / "home", admin_user=ADMIN_USER,
                        admin_password=ADMIN_PASSWORD, secret_key="dashboard-test-secret")
    ctx = open_context(settings)
    assert bootstrap(ctx) is not None
    return ctx


@pytest.fixture
def app_client(context: ServiceContext) -> Iterator[TestClient]:
    app = create_server(context.settings, context=context, run_workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


# --- live: a real server, a real S3 server and a real browser

@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("dashboard") / "home").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` (apt-get install chromium) installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/dashboard, emptied once per test session."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
