"""IBM's own v3 Python client (`watson-machine-learning-client==1.0.391`, unchanged) against a
live `caffebatch serve` on 127.0.0.1, with the buckets on a real S3 server (moto).

The server's tokens live 1802 s, so the client, which refreshes once a token is within 30
minutes of `exp`, refreshes (PUT /v3/identity/token with the token as the JSON body) two
seconds after each token it got: the flow below runs on refreshed tokens, and the last step
waits for one refresh and checks the call made with it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import watson_machine_learning_client as wml

from tests.api.conftest import digits, seed_objects
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.api.test_seed_session import seed_body
from tests.s3server import S3Server

RECORDS = 6
LIFETIME_S = 1802  # the client refreshes within 1800 s of expiry: two seconds after issue


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    live = LiveServer(
        tmp_path / "home", env={"CAFFEBATCH_TOKEN_LIFETIME_S": str(LIFETIME_S)}
    ).start()
    yield live
    live.stop()


def expiry(token: str) -> int:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


def test_the_v3_client_drives_a_batch_deployment(
    server: LiveServer,
    s3: S3Server,
    lenet_archive: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the client downloads into the working folder
    records, caffe_probs = digits(RECORDS)
    inputs, outputs = f"v3-in-{uuid.uuid4().hex[:8]}", f"v3-out-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(inputs)
    s3.create_bucket(outputs)
    s3.upload(inputs, seed_objects(records))
    instance_id = server.instance_id()
    archive = tmp_path / "lenet.tar.gz"
    archive.write_bytes(lenet_archive)

    # construct: GET /v3/identity/token, GET /v3/wml_instances/{iid}, GET /v2/identity/token
    client = wml.WatsonMachineLearningAPIClient(
        {
            "url": server.url,
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "instance_id": instance_id,
        }
    )
    first_token = client.wml_token

    details = client.service_instance.get_details()
    assert details["metadata"]["guid"] == instance_id
    assert details["entity"]["usage"]["model_count"]["current"] == 0
    assert uuid.UUID(details["entity"]["plan_id"])

    # store_model: POST /v3/ml_assets/models, then PUT entity.model_version.content_url
    names = client.repository.ModelMetaNames
    stored = client.repository.store_model(
        str(archive),
        {names.NAME: "lenet", names.FRAMEWORK_NAME: "caffe", names.FRAMEWORK_VERSION: "1.0"},
    )
    model_id = client.repository.get_model_uid(stored)
    assert stored["entity"]["model_type"] == "caffe-1.0"
    first_version = stored["entity"]["latest_version"]["guid"]

    client.repository.list_models()  # follows `next` only while the key is there
    listed = client.repository.get_model_details()["resources"]
    assert [m["metadata"]["guid"] for m in listed] == [model_id]

    model = client.repository.get_details(model_id)
    assert model["entity"]["input_layers"] == ["data"]
    downloaded = Path(client.repository.download(model_id, "downloaded.tar.gz"))
    assert downloaded.read_bytes() == lenet_archive

    # the one step the client cannot do: a batch deployment, the seed's body as a plain POST
    body = seed_body(s3, "AKv3client", "SKv3client")
    body["input"]["source"]["bucket"], body["output"]["target"]["bucket"] = inputs, outputs
    created = httpx.post(
        model["entity"]["deployments"]["url"],
        json=body,
        headers={"Authorization": f"Bearer {client.wml_token}"},
        timeout=60,
    )
    assert created.status_code == 202, created.text
    deployment_id = created.json()["metadata"]["guid"]

    deadline = time.monotonic() + 120
    while (status := client.deployments.get_status(deployment_id)) in ("INITIALIZING", "RUNNING"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status == "SUCCESS", client.deployments.get_details(deployment_id)

    results = {
        k: v for k, v in s3.download(outputs).items() if not k.startswith("_caffebatch/")
    }
    assert sorted(results) == sorted(records)
    for name, body in results.items():
        prob = np.array(orjson.loads(body)[name]["prob"], dtype=np.float32)
        expected = caffe_probs[name]
        np.testing.assert_allclose(prob, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())

    client.deployments.list()  # reads entity.deployable_asset.url
    (listed_deployment,) = client.deployments.get_details()["resources"]
    assert listed_deployment["entity"]["deployable_asset"]["guid"] == model_id
    assert client.deployments.get_details(deployment_id)["entity"]["status_details"] == (
        listed_deployment["entity"]["status_details"]
    )

    # a new version (POST /v3/ml_assets/models/{mid}, then PUT its content_url)
    version = client.repository.create_version(
        str(archive),
        model_id,
        {names.NAME: "lenet", names.FRAMEWORK_NAME: "caffe", names.FRAMEWORK_VERSION: "1.0"},
    )
    second_version = version["metadata"]["guid"]
    assert second_version != first_version

    def latest() -> str:
        return client.repository.get_details(model_id)["entity"]["latest_version"]["guid"]

    assert latest() == second_version
    # back to the first (PATCH .../published_models/{mid} on /deployed_version/url), and the
    # client's own update, which PATCHes the same path with the model's latest_version url
    patched = httpx.patch(
        f"{server.url}/v3/wml_instances/{instance_id}/published_models/{model_id}",
        json=[
            {
                "op": "replace",
                "path": "/deployed_version/url",
                "value": f"{server.url}/v3/ml_assets/models/{model_id}/versions/{first_version}",
            }
        ],
        headers={"Authorization": f"Bearer {client.wml_token}"},
    )
    assert patched.status_code == 200, patched.text
    assert latest() == first_version
    client.deployments.update(deployment_id, asynchronous=True)  # raises unless PATCH is 200
    assert latest() == first_version

    assert client.deployments.delete(deployment_id) == "SUCCESS"
    assert client.deployments.get_details()["resources"] == []
    assert client.repository.delete(model_id) == "SUCCESS"
    assert client.repository.get_model_details()["resources"] == []

    # the client has refreshed since it was built; wait for its next refresh, then call
    assert client.wml_token != first_token
    before = client.wml_token
    while time.time() <= expiry(before) - 1800:
        time.sleep(0.2)
    details = client.service_instance.get_details()
    assert client.wml_token != before
    assert expiry(client.wml_token) > expiry(before)
    assert details["entity"]["usage"]["deployment_count"]["current"] == 0
