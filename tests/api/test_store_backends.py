"""Publish, deploy and run to SUCCESS in process on SQLite and PostgreSQL (local folders),
with usage counted; and a `caffebatch serve` on PostgreSQL killed mid-run resumes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import orjson

from tests.api.conftest import ROOT, Api, digits, seed_objects
from tests.api.live import LiveServer
from tests.api.test_deployments import local_body, wait
from tests.api.test_restart import token
from tests.api.test_restart import wait_for as wait_live

DIGITS = ROOT / "examples" / "digits"
EXAMPLE_DIGITS = 60
REFERENCE_RECORDS = 40
KILLED_RUN_RECORDS = 1600


def copy_example_digits(folder: Path, count: int) -> dict[str, int]:
    """The first `count` examples/digits inputs, copied to `folder`; their labels by name."""
    folder.mkdir(parents=True)
    labels = json.loads((DIGITS / "labels.json").read_text())
    names = sorted(labels)[:count]
    for name in names:
        shutil.copyfile(DIGITS / "inputs" / name, folder / name)
    return {name: labels[name] for name in names}


def write_reference_records(folder: Path, count: int) -> dict[str, np.ndarray]:
    """LeNet reference records (real Caffe's test set) in `folder`; Caffe's probabilities."""
    folder.mkdir(parents=True)
    records, probs = digits(count)
    for name, body in seed_objects(records).items():
        (folder / name).write_bytes(body)
    return probs


def prob_of(folder: Path, name: str) -> np.ndarray:
    return np.asarray(orjson.loads((folder / name).read_bytes())[name]["prob"]).reshape(-1)


def test_two_runs_succeed_with_caffes_numbers_and_usage_counted(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    labels = copy_example_digits(data / "digits", EXAMPLE_DIGITS)
    caffe = write_reference_records(data / "reference", REFERENCE_RECORDS)
    url = f"{api.base}/published_models/{model_id}/deployments"
    created = [
        api.request("POST", url, json=local_body(data / source, data / f"{source}-out"))
        for source in ("digits", "reference")
    ]  # both queued at once: the pool runs them side by side
    assert [c.status_code for c in created] == [202, 202], [c.text for c in created]
    paths = [c.json()["metadata"]["url"].removeprefix("http://testserver") for c in created]
    finals = [wait(api, p, lambda e: e["status"] not in ("INITIALIZING", "RUNNING")) for p in paths]

    for final, count in zip(finals, (EXAMPLE_DIGITS, REFERENCE_RECORDS), strict=True):
        details = final["status_details"]
        assert final["status"] == "SUCCESS", details
        assert (details["total"], details["scored"], details["failed"]) == (count, count, 0)
    for name, expected in caffe.items():
        scale = float(np.abs(expected).max())
        got = prob_of(data / "reference-out", name)
        np.testing.assert_allclose(got, expected.reshape(-1), rtol=1e-4, atol=1e-5 * scale)
    predicted = {name: int(prob_of(data / "digits-out", name).argmax()) for name in labels}
    wrong = [name for name, label in labels.items() if predicted[name] != label]
    assert len(wrong) <= 1, wrong  # Caffe's own LeNet misses 1 of the 360

    usage = api.request("GET", api.base).json()["entity"]["usage"]
    assert usage["prediction_count"]["current"] == EXAMPLE_DIGITS + REFERENCE_RECORDS
    assert usage["deployment_count"]["current"] == 2
    assert usage["capacity_units"]["current"] >= 0
    # usage outlives a deleted deployment
    assert api.request("DELETE", paths[0]).status_code == 204
    usage = api.request("GET", api.base).json()["entity"]["usage"]
    assert usage["prediction_count"]["current"] == EXAMPLE_DIGITS + REFERENCE_RECORDS
    assert usage["deployment_count"]["current"] == 1


def test_a_killed_server_on_postgresql_resumes_its_run(
    tmp_path: Path, postgres_url: str, lenet_archive: bytes
) -> None:
    data = tmp_path / "data"
    write_reference_records(data / "in", KILLED_RUN_RECORDS)
    env = {
        "CAFFEBATCH_DATABASE_URL": postgres_url,
        "CAFFEBATCH_LOCAL_ROOTS": str(data),
        "CAFFEBATCH_MAX_CONCURRENT_RUNS": "1",
        # progress saved early and often, so the kill lands well before the run's end
        "CAFFEBATCH_PROGRESS_INTERVAL_S": "0.05",
        # the restarted server takes the run over once the killed one's lease lapses
        "CAFFEBATCH_LEASE_S": "3",
    }
    server = LiveServer(tmp_path / "home", env=env).start()
    try:
        headers = token(server)
        base = f"{server.url}/v3/wml_instances/{server.instance_id()}/published_models"
        model = httpx.post(base, headers=headers, json={"name": "lenet"})
        model_id = model.json()["metadata"]["guid"]
        content = httpx.put(
            f"{base}/{model_id}/content", headers=headers, content=lenet_archive, timeout=60
        )
        assert content.status_code == 200, content.text
        body = local_body(data / "in", data / "out", batch_size=2)
        created = httpx.post(f"{base}/{model_id}/deployments", headers=headers, json=body)
        assert created.status_code == 202, created.text
        path = created.json()["metadata"]["url"].removeprefix(server.url)

        before = wait_live(server, path, lambda e: (e["status_details"].get("scored") or 0) > 0)
        server.kill()
        written = {p.name for p in (data / "out").iterdir() if p.suffix == ".json"}
        assert before["status"] == "RUNNING" and 0 < len(written) < KILLED_RUN_RECORDS

        server.start()
        final = wait_live(server, path, lambda e: e["status"] not in ("INITIALIZING", "RUNNING"))
    finally:
        server.stop()

    details = final["status_details"]
    assert final["status"] == "SUCCESS", details
    assert details["failed"] == 0 and details["skipped"] >= len(written)
    assert details["scored"] + details["skipped"] == details["total"] == KILLED_RUN_RECORDS
    results = {p.name for p in (data / "out").iterdir() if p.suffix == ".json"}
    assert results == {p.name for p in (data / "in").iterdir()}
    assert "requeued 1 interrupted run" in server.log.read_text()


def test_text_with_a_nul_character_is_a_bad_request_on_every_backend(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    # PostgreSQL cannot store NUL in text (SQLite can): both refuse it the same way
    model = api.request("POST", f"{api.base}/published_models", json={"name": "le\x00net"})
    assert model.status_code == 400, model.text
    assert model.json()["errors"][0] == {
        "code": "invalid_text",
        "message": "name must not contain NUL characters (\\x00)",
    }
    model_id = api.publish(lenet_archive)
    body = local_body(tmp_path / "data/in", tmp_path / "data/out", description="run \x00 1")
    created = api.request("POST", f"{api.base}/published_models/{model_id}/deployments", json=body)
    assert created.status_code == 400, created.text
    assert created.json()["errors"][0]["code"] == "invalid_text"
    listed = api.request("GET", f"{api.base}/published_models").json()
    assert [m["entity"]["name"] for m in listed["resources"]] == ["lenet"]
