"""Deployments run on Ray (issue 6): the same results, progress and usage as a local run.

The app runs in process (create_server with a Settings object, its worker pool in threads) with
``executor="ray"``, so its runs join the session's local Ray (tests/ray_fixtures.py) rather
than starting one. Real parts throughout: moto on 127.0.0.1, ONNX Runtime, Ray actors.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from caffebatch.jobs import RunOptions, run_batch
from caffebatch.model import load_model
from caffebatch.service.context import ServiceContext
from tests.api.conftest import LENET, LENET_REFERENCE, Api
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.jobs.formats import check_result
from tests.ray_fixtures import CPUS, local_ray  # noqa: F401 (a fixture)
from tests.s3server import S3Server

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits" / "inputs"
GOOD = 40
BAD = {"bad_truncated.json": (b'{"data": [[[0.5, 0.5', "invalid_json"),
       "bad_wrong_key.json": (b'{"image": [1, 2, 3]}', "missing_input")}
ENDED = ("SUCCESS", "PARTIAL_SUCCESS", "FAILURE")


@pytest.fixture
def settings(settings, local_ray):  # type: ignore[no-untyped-def]
    """The service on Ray; the session's Ray is up before the worker pool starts.

    DELETE waits up to `cancel_wait_s` for a run to stop: long here, so that a prompt
    answer shows the run stopped rather than that the wait ran out. The engine is fixed:
    results are compared byte for byte with a local run, and `auto` may pick another
    backend (equal within tolerance, not to the last bit) under load."""
    return settings.model_copy(
        update={"executor": "ray", "cancel_wait_s": 30.0, "engine": "onnxruntime"}
    )


def cos_body(s3: S3Server, source: str, target: str) -> dict:
    """The seed's POST body, with this S3 server's endpoint and fresh credentials."""
    connection = {"access_key": f"AK{uuid.uuid4().hex}", "secret_key": f"SK{uuid.uuid4().hex}",
                  "url": s3.url}
    return {
        "name": "MNIST Prediction",
        "type": "batch",
        "description": "Batch Deployment",
        "input": {"type": "cloudobjectstorage", "source": {"bucket": source},
                  "connection": dict(connection)},
        "output": {"type": "cloudobjectstorage", "target": {"bucket": target},
                   "connection": dict(connection)},
    }


def create(api: Api, model_id: str, body: dict) -> str:
    response = api.request("POST", f"{api.base}/published_models/{model_id}/deployments",
                           json=body)
    assert response.status_code == 202, response.text
    return response.json()["metadata"]["url"].removeprefix("http://testserver")


def poll(  # type: ignore[no-untyped-def]
    api: Api, url: str, done, timeout_s: float = 60
) -> tuple[dict, list[dict]]:
    """The entity once `done(entity)`, and every RUNNING entity seen on the way."""
    deadline, running = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        entity = api.request("GET", url).json()["entity"]
        if entity["status"] == "RUNNING":
            running.append(entity)
        if done(entity):
            return entity, running
        time.sleep(0.02)
    raise AssertionError(f"timed out: {entity}")


def results_of(found: dict[str, bytes]) -> dict[str, bytes]:
    return {key: data for key, data in found.items() if not key.startswith("_caffebatch/")}


def error_lines(found: dict[str, bytes], run_id: str) -> list[dict]:
    lines = found[f"_caffebatch/{run_id}/errors.jsonl"].splitlines()
    return sorted(map(json.loads, lines), key=lambda entry: entry["input"])


def wait_for_free_cpus(ray, timeout_s: float = 20) -> None:  # type: ignore[no-untyped-def]
    """Until the run's actors are gone and every CPU of the session's Ray is free again."""
    deadline = time.monotonic() + timeout_s
    while ray.available_resources().get("CPU", 0) < CPUS:
        assert time.monotonic() < deadline, f"actors left behind: {ray.available_resources()}"
        time.sleep(0.05)


def test_s3_deployment_on_ray_matches_a_local_run(
    api: Api, s3: S3Server, lenet_archive: bytes, local_ray
) -> None:
    digits = {path.name: path.read_bytes() for path in sorted(DIGITS.iterdir())[:GOOD]}
    source, target, local = s3.create_bucket(), s3.create_bucket(), s3.create_bucket()
    s3.upload(source, digits)
    s3.upload(source, {name: data for name, (data, _) in BAD.items()})
    model_id = api.publish(lenet_archive)

    url = create(api, model_id, cos_body(s3, source, target))
    final, running = poll(api, url, lambda e: e["status"] in ENDED)
    details = final["status_details"]
    assert final["status"] == "PARTIAL_SUCCESS", details
    assert (details["total"], details["scored"], details["failed"]) == (GOOD + len(BAD), GOOD,
                                                                       len(BAD))
    assert {e["input"]: e["code"] for e in details["errors"]} == {
        name: code for name, (_, code) in BAD.items()}
    for entity in running:  # what progress reached the service never ran ahead of the end
        assert (entity["status_details"].get("scored") or 0) <= GOOD

    # the same inputs through the local executor: the same bytes, the same error report
    summary = run_batch(load_model(LENET), s3.location(f"s3://{source}"),
                        s3.location(f"s3://{local}"), RunOptions("local"))
    assert (summary.status, summary.scored, summary.failed) == ("PARTIAL_SUCCESS", GOOD, len(BAD))
    on_ray, locally = s3.download(target), s3.download(local)
    assert sorted(results_of(on_ray)) == sorted(digits)
    assert results_of(on_ray) == results_of(locally)  # byte for byte
    run_id = url.rsplit("/", 1)[1]
    assert error_lines(on_ray, run_id) == error_lines(locally, "local")
    probs = np.load(LENET_REFERENCE / "test_set.npz")["prob"]  # real Caffe's, digit by digit
    for index, name in enumerate(sorted(digits)):
        check_result(name, on_ray[name], probs[index])

    usage = api.request("GET", api.base).json()["entity"]["usage"]
    assert usage["prediction_count"]["current"] == GOOD
    wait_for_free_cpus(local_ray)


def test_delete_cancels_a_deployment_running_on_ray(
    api: Api, context: ServiceContext, tmp_path: Path, lenet_archive: bytes, local_ray
) -> None:
    inputs, out = tmp_path / "data" / "in", tmp_path / "data" / "out"
    inputs.mkdir(parents=True)
    digits = sorted(DIGITS.iterdir())
    count = 6000
    for index in range(count):  # links: thousands of inputs in milliseconds
        os.link(digits[index % len(digits)], inputs / f"x{index:05d}.json")
    model_id = api.publish(lenet_archive)
    body = {"name": "on ray", "batch_size": 2,
            "input": {"type": "local", "source": {"path": str(inputs)}},
            "output": {"type": "local", "target": {"path": str(out)}}}

    url = create(api, model_id, body)
    running, _ = poll(api, url, lambda e: e["status"] == "RUNNING"
                      and (e["status_details"].get("scored") or 0) > 0)
    assert running["status_details"]["scored"] < count  # progress came back mid-run
    assert local_ray.available_resources().get("CPU", 0) < CPUS  # Ray actors are scoring

    started = time.monotonic()
    assert api.request("DELETE", url).status_code == 204
    assert time.monotonic() - started < 5
    assert context.runs.running() == 0  # the run has ended, not merely been asked to
    assert api.request("GET", url).status_code == 404
    wait_for_free_cpus(local_ray)  # the actors were killed, not left scoring for nobody
    settled = len([p for p in out.iterdir() if p.suffix == ".json"])
    time.sleep(0.3)
    assert len([p for p in out.iterdir() if p.suffix == ".json"]) == settled < count


def test_a_ray_cluster_that_cannot_be_joined_fails_the_deployment(
    tmp_path: Path, lenet_archive: bytes
) -> None:
    """A live server told to join a Ray cluster at a mistyped address: FAILURE, saying why.

    (Before, the run crashed on Ray's error and the deployment stayed RUNNING for good.)"""
    inputs = tmp_path / "data" / "in"
    inputs.mkdir(parents=True)
    for path in sorted(DIGITS.iterdir())[:3]:
        os.link(path, inputs / path.name)
    server = LiveServer(tmp_path / "home", env={
        "CAFFEBATCH_EXECUTOR": "ray", "CAFFEBATCH_RAY_ADDRESS": "127.0.0.1:63790x",
        "CAFFEBATCH_LOCAL_ROOTS": str(tmp_path / "data"),
    }).start()
    try:
        token = httpx.get(f"{server.url}/v3/identity/token",
                          auth=(ADMIN_USER, ADMIN_PASSWORD)).json()["token"]
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                            timeout=60)
        models = f"/v3/wml_instances/{server.instance_id()}/published_models"
        model_id = http.post(models, json={"name": "lenet"}).json()["metadata"]["guid"]
        assert http.put(f"{models}/{model_id}/content", content=lenet_archive).status_code == 200
        created = http.post(f"{models}/{model_id}/deployments", json={
            "name": "nowhere to run",
            "input": {"type": "local", "source": {"path": str(inputs)}},
            "output": {"type": "local", "target": {"path": str(tmp_path / "data" / "out")}},
        })
        assert created.status_code == 202, created.text
        url = created.json()["metadata"]["url"]
        deadline = time.monotonic() + 60
        while (entity := http.get(url).json()["entity"])["status"] not in ENDED:
            assert time.monotonic() < deadline, entity
            time.sleep(0.1)
    finally:
        server.stop()
    assert entity["status"] == "FAILURE", entity
    failure = entity["status_details"]["failure"]
    assert failure["code"] == "executor_error"
    assert failure["message"].startswith(
        "could not join the Ray cluster at '127.0.0.1:63790x': ")
