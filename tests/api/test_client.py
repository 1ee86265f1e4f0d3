"""caffebatch.client against a live `caffebatch serve`: sign in, refresh before expiry and
sign in again after it, publish the LeNet folder, deploy it over local folders with one bad
input, wait with progress, read the error report, and get the service's refusals as ApiError."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from caffebatch.client import FINAL_STATUSES, Client, Place, read_full_error_report
from caffebatch.errors import ApiError
from caffebatch.jobs.run import RUN_FOLDER
from caffebatch.store.states import ACTIVE, TRANSITIONS
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer

ROOT = Path(__file__).resolve().parents[2]
LENET, DIGITS = ROOT / "examples" / "lenet", ROOT / "examples" / "digits" / "inputs"
TOKEN_LIFETIME_S = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("client")
    live = LiveServer(root / "home", env={
        "CAFFEBATCH_LOCAL_ROOTS": str(root / "data"),
        "CAFFEBATCH_TOKEN_LIFETIME_S": str(TOKEN_LIFETIME_S),
    }).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, ADMIN_USER, ADMIN_PASSWORD, refresh_margin_s=3) as signed_in:
        yield signed_in


def test_the_final_statuses_are_the_stores() -> None:
    assert {status for status, then in TRANSITIONS.items() if not then} == FINAL_STATUSES
    assert not FINAL_STATUSES & ACTIVE


def test_publish_deploy_wait_and_read_the_error_report(
    server: LiveServer, client: Client
) -> None:
    data = server.home.parent / "data"
    source, target = data / "in", data / "out"
    source.mkdir(parents=True)
    for path in sorted(DIGITS.iterdir())[:40]:
        shutil.copy(path, source / path.name)
    (source / "broken.json").write_bytes(b"this is not json")

    model_id = client.publish(LENET, name="lenet", description="digits")
    assert client.instance_id == server.instance_id()
    deployment_id = client.create_deployment(
        model_id, Place.local(source), Place.local(target), name="digits", batch_size=8)
    seen: list[dict] = []
    final = client.wait(model_id, deployment_id, progress=seen.append, poll_s=0.2,
                        timeout_s=120)

    assert final["status"] == "PARTIAL_SUCCESS", final
    assert (final["scored"], final["failed"]) == (40, 1)
    assert seen[-1] == final and all(a != b for a, b in pairwise(seen))
    assert len(list(target.glob("*.json"))) == 40
    report = client.error_report(model_id, deployment_id)
    assert [(entry["input"], entry["code"]) for entry in report] == [
        ("broken.json", "invalid_json")]
    full = read_full_error_report(str(target), deployment_id)
    assert [entry["input"] for entry in full] == ["broken.json"]
    assert (target / RUN_FOLDER / deployment_id / "errors.jsonl").exists()


def test_the_token_is_refreshed_before_it_expires_and_renewed_after(client: Client) -> None:
    client.request("GET", "")
    first, expires = client.token, client.expires_at
    assert expires - time.time() <= TOKEN_LIFETIME_S

    time.sleep(expires - time.time() - 2.5)  # inside the 3 s margin, still valid: PUT
    assert client.request("GET", "")["metadata"]["guid"] == client.instance_id
    assert client.token != first and client.expires_at > expires

    second = client.token
    time.sleep(client.expires_at - time.time() + 1)  # expired: Basic sign-in again
    assert client.request("GET", "")["metadata"]["guid"] == client.instance_id
    assert client.token not in (first, second)


def test_refusals_are_api_errors_with_the_error_body(server: LiveServer, client: Client) -> None:
    with pytest.raises(ApiError) as missing:
        client.deployment("no-such-model", "no-such-deployment")
    assert missing.value.status == 404 and missing.value.trace
    with Client(server.url, ADMIN_USER, "wrong-password") as stranger, \
            pytest.raises(ApiError) as refused:
        stranger.sign_in()
    assert (refused.value.status, refused.value.code) == (401, "invalid_credentials")


def test_a_deployment_is_cancelled_and_removed(server: LiveServer, client: Client) -> None:
    data = server.home.parent / "data"
    source = data / "cancel-in"
    source.mkdir(parents=True)
    record = orjson.loads((DIGITS / "digit_000.json").read_bytes())
    for i in range(300):
        (source / f"d{i:04}.json").write_bytes(orjson.dumps(record))
    model_id = client.publish(LENET, name="lenet-cancel")
    deployment_id = client.create_deployment(model_id, Place.local(source),
                                             Place.local(data / "cancel-out"), batch_size=1)
    client.delete_deployment(model_id, deployment_id)
    with pytest.raises(ApiError) as gone:
        client.deployment(model_id, deployment_id)
    assert gone.value.status == 404
