"""The seed's curl session, step by step with the seed's bodies, against a live server.

`caffebatch serve` runs in a subprocess on 127.0.0.1 and the buckets live on a real S3
server (moto) on 127.0.0.1. The outputs are checked against the seed's format and against
real Caffe's probabilities for the same digits.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from tests.api.conftest import digits, seed_objects
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.s3server import S3Server

RECORDS = 24


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    live = LiveServer(tmp_path / "home").start()
    yield live
    live.stop()


def seed_body(s3: S3Server, access_key: str, secret_key: str) -> dict:
    """The seed's POST body, with this server's endpoint and these credentials."""
    connection = {"access_key": access_key, "secret_key": secret_key, "url": s3.url}
    return {
        "name": "MNIST Prediction",
        "type": "batch",
        "description": "Batch Deployment",
        "input": {
            "type": "cloudobjectstorage",
            "source": {"bucket": "batchcaffe-in"},
            "connection": dict(connection),
        },
        "output": {
            "type": "cloudobjectstorage",
            "target": {"bucket": "batchcaffe-out"},
            "connection": dict(connection),
        },
    }


def test_seed_curl_session(server: LiveServer, s3: S3Server, lenet_archive: bytes) -> None:
    records, caffe_probs = digits(RECORDS)
    s3.create_bucket("batchcaffe-in")
    s3.create_bucket("batchcaffe-out")
    s3.upload("batchcaffe-in", seed_objects(records))
    access_key, secret_key = f"AK{uuid.uuid4().hex}", f"SK{uuid.uuid4().hex}"
    seen: list[str] = []  # every response body, to check no secret ever comes back

    def call(method: str, url: str, **kwargs) -> httpx.Response:
        response = httpx.request(method, url, timeout=60, **kwargs)
        seen.append(response.text)
        return response

    # curl --basic --user username:password .../v3/identity/token
    token_response = call(
        "GET", f"{server.url}/v3/identity/token", auth=(ADMIN_USER, ADMIN_PASSWORD)
    )
    assert token_response.status_code == 200
    token = token_response.json()["token"]
    instance_id = server.instance_id()
    assert token_response.json()["instance_id"] == instance_id
    json_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Bearer {token}",
    }

    # GET /v3/wml_instances/{instance_id}
    instance = call("GET", f"{server.url}/v3/wml_instances/{instance_id}", headers=json_headers)
    assert instance.status_code == 200
    entity = instance.json()["entity"]
    assert instance.json()["metadata"]["guid"] == instance_id
    models_url = entity["published_models"]["url"]
    assert models_url == f"{server.url}/v3/wml_instances/{instance_id}/published_models"
    assert entity["usage"]["model_count"]["current"] == 0

    # publish the LeNet example: metadata, then the training result's model folder
    created = call(
        "POST",
        models_url,
        headers=json_headers,
        json={"name": "lenet", "description": "saved from tests", "model_type": "caffe-1.0"},
    )
    assert created.status_code == 201
    model_id = created.json()["metadata"]["guid"]
    content = call(
        "PUT",
        f"{models_url}/{model_id}/content",
        content=lenet_archive,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    assert content.status_code == 200, content.text
    version = content.json()["entity"]["latest_version"]
    assert version["guid"]

    # GET .../published_models/ (the seed's trailing slash)
    listing = call("GET", f"{models_url}/", headers=json_headers)
    assert listing.status_code == 200
    (model,) = [r for r in listing.json()["resources"] if r["metadata"]["guid"] == model_id]
    assert model["entity"]["model_type"] == "caffe-1.0"
    assert model["entity"]["latest_version"]["guid"] == version["guid"]
    deployments_url = model["entity"]["deployments"]["url"]

    # POST the seed's batch deployment body
    created = call(
        "POST",
        deployments_url,
        json=seed_body(s3, access_key, secret_key),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "X-Spark-Service-Instance": "ignored-spark-credentials",
        },
    )
    assert created.status_code == 202, created.text
    deployment = created.json()
    assert deployment["entity"]["status"] == "INITIALIZING"
    assert deployment["entity"]["input"]["connection"]["secret_key"] == "*****"
    assert deployment["entity"]["deployed_version"]["guid"] == version["guid"]
    deployment_url = deployment["metadata"]["url"]

    # poll GET .../deployments/{id} until it ends
    deadline = time.monotonic() + 120
    while True:
        status = call("GET", deployment_url, headers=json_headers).json()["entity"]
        if status["status"] not in ("INITIALIZING", "RUNNING"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "SUCCESS", status
    details = status["status_details"]
    assert details["status"] == "SUCCESS"
    assert (details["total"], details["scored"], details["failed"]) == (RECORDS, RECORDS, 0)

    # every output object: the seed's format, and real Caffe's numbers
    outputs = s3.download("batchcaffe-out")
    results = {k: v for k, v in outputs.items() if not k.startswith("_caffebatch/")}
    assert sorted(results) == sorted(records)
    for name, body in results.items():
        document = orjson.loads(body)
        assert list(document) == [name]
        assert list(document[name]) == ["prob"]
        prob = np.array(document[name]["prob"], dtype=np.float32)
        expected = caffe_probs[name]
        np.testing.assert_allclose(prob, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())

    # usage is real
    usage = call(
        "GET", f"{server.url}/v3/wml_instances/{instance_id}", headers=json_headers
    ).json()["entity"]["usage"]
    assert usage["prediction_count"]["current"] == RECORDS
    assert usage["model_count"]["current"] == 1
    assert usage["deployment_count"]["current"] == 1

    # DELETE -> 204, then it is gone
    assert call("DELETE", deployment_url, headers=json_headers).status_code == 204
    assert call("GET", deployment_url, headers=json_headers).status_code == 404

    # secrets never come back, and never reach the log
    server.stop()
    for secret in (access_key, secret_key):
        assert not [text for text in seen if secret in text]
        assert secret not in server.log.read_text()
