"""Fixtures for the service's tests: a real S3 server, the LeNet package, apps and servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from caffebatch.package import pack
from caffebatch.server import create_server
from caffebatch.service.context import ServiceContext, open_context
from caffebatch.service.instances import bootstrap
from caffebatch.settings import Settings
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.postgres import BACKENDS
from tests.s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "examples" / "lenet"
LENET_REFERENCE = ROOT / "tests" / "reference" / "lenet"
# in-process modules that run on PostgreSQL too (cheap); the others stay on SQLite
ON_EVERY_BACKEND = frozenset(
    {"test_deployments", "test_tenancy", "test_archives", "test_store_backends"}
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in ON_EVERY_BACKEND and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def backend() -> str:
    """The store under `settings`: SQLite, or both for the modules in ON_EVERY_BACKEND."""
    return "sqlite"


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def lenet_archive() -> bytes:
    return pack(LENET)


def digits(count: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`count` LeNet records (the reference test set, repeated) and Caffe's probabilities
    for them, both by input object name."""
    test_set = np.load(LENET_REFERENCE / "test_set.npz")
    images, probs = test_set["data"], test_set["prob"]
    names = [f"mnist_{i}.json" for i in range(count)]
    return (
        {name: images[i % len(images)][None] for i, name in enumerate(names)},
        {name: probs[i % len(probs)] for i, name in enumerate(names)},
    )


def seed_objects(records: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Input objects in the seed's format: {"data": [[[[...]]]]} with the leading 1."""
    return {name: orjson.dumps({"data": x.tolist()}) for name, x in records.items()}


class Api:
    """A TestClient logged in as one user, with the instance's base path."""

    def __init__(self, client: TestClient, instance_id: str, user: str, password: str) -> None:
        self.client, self.instance_id = client, instance_id
        token = client.get("/v3/identity/token", auth=(user, password)).json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.base = f"/v3/wml_instances/{instance_id}"

    def request(self, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.request(method, path, headers=self.headers, **kwargs)

    def publish(self, archive: bytes, name: str = "lenet") -> str:
        model = self.request(
            "POST", f"{self.base}/published_models", json={"name": name, "model_type": "caffe-1.0"}
        )
        assert model.status_code == 201, model.text
        model_id = model.json()["metadata"]["guid"]
        content = self.request(
            "PUT", f"{self.base}/published_models/{model_id}/content", content=archive
        )
        assert content.status_code == 200, content.text
        return model_id


@pytest.fixture
def settings(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Settings:
    postgres = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    return Settings(
        home=tmp_path / "home",
        database_url=postgres,  # None: SQLite in the home folder
        admin_user=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
        local_roots=[str(tmp_path / "data")],
        poll_interval_s=0.05,
        progress_interval_s=0.1,
        secret_key="test-secret",
    )


@pytest.fixture
def context(settings: Settings) -> Iterator[ServiceContext]:
    ctx = open_context(settings)
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def client(settings: Settings, context: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_server(settings, context=context)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, context: ServiceContext) -> Api:
    created = bootstrap(context)
    assert created is not None
    return Api(client, created.instance_id, ADMIN_USER, ADMIN_PASSWORD)
