"""SIGKILL the server in the middle of a run; after a restart the run finishes, and every
input is scored exactly once (none lost, none written twice)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import digits, seed_objects
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER, LiveServer
from tests.s3server import S3Server

RECORDS = 1000


def upload_all(s3: S3Server, bucket: str, objects: dict[str, bytes]) -> None:
    client = s3.client()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda item: client.put_object(Bucket=bucket, Key=item[0], Body=item[1]),
                objects.items(),
            )
        )


def result_versions(s3: S3Server, bucket: str) -> dict[str, int]:
    """How many versions of each result object the (versioned) bucket holds."""
    counts: dict[str, int] = {}
    for page in s3.client().get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", ()):
            if not version["Key"].startswith("_caffebatch/"):
                counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def token(server: LiveServer) -> dict[str, str]:
    response = httpx.get(f"{server.url}/v3/identity/token", auth=(ADMIN_USER, ADMIN_PASSWORD))
    return {"Authorization": f"Bearer {response.json()['token']}"}


def wait_for(server: LiveServer, path: str, done, timeout_s: float = 240):  # type: ignore[no-untyped-def]
    headers = token(server)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entity = httpx.get(server.url + path, headers=headers, timeout=30).json()["entity"]
        if done(entity):
            return entity
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting on {path}: {entity}")


@pytest.mark.slow
def test_a_killed_server_resumes_its_run(
    tmp_path: Path, s3: S3Server, lenet_archive: bytes
) -> None:
    records, _ = digits(RECORDS)
    source, target = s3.create_bucket(f"in-{uuid.uuid4().hex[:8]}"), s3.create_bucket()
    # with versioning, a result written twice would leave two versions
    s3.client().put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    upload_all(s3, source, seed_objects(records))
    # the restarted server takes the run over once the killed one's lease lapses
    env = {"CAFFEBATCH_MAX_CONCURRENT_RUNS": "1", "CAFFEBATCH_LEASE_S": "3"}
    server = LiveServer(tmp_path / "home", env=env).start()
    try:
        headers = token(server)
        base = f"{server.url}/v3/wml_instances/{server.instance_id()}/published_models"
        model_id = httpx.post(base, headers=headers, json={"name": "lenet"}).json()["metadata"][
            "guid"
        ]
        assert (
            httpx.put(
                f"{base}/{model_id}/content", headers=headers, content=lenet_archive, timeout=60
            ).status_code
            == 200
        )
        connection = {"access_key": "k", "secret_key": "s", "url": s3.url}
        created = httpx.post(
            f"{base}/{model_id}/deployments",
            headers=headers,
            json={
                "name": "restart",
                "batch_size": 16,
                "input": {
                    "type": "cloudobjectstorage",
                    "source": {"bucket": source},
                    "connection": connection,
                },
                "output": {
                    "type": "cloudobjectstorage",
                    "target": {"bucket": target},
                    "connection": connection,
                },
            },
        )
        assert created.status_code == 202
        path = created.json()["metadata"]["url"].removeprefix(server.url)

        # kill it once some, but not all, results are written
        before = wait_for(server, path, lambda e: (e["status_details"].get("scored") or 0) > 0)
        server.kill()
        written = result_versions(s3, target)
        assert before["status"] == "RUNNING" and 0 < len(written) < RECORDS, len(written)

        server.start()
        final = wait_for(server, path, lambda e: e["status"] not in ("INITIALIZING", "RUNNING"))
        instance = f"{server.url}/v3/wml_instances/{server.instance_id()}"
        usage = httpx.get(instance, headers=token(server), timeout=30).json()["entity"]["usage"]
    finally:
        server.stop()

    details = final["status_details"]
    assert final["status"] == "SUCCESS", details
    versions = result_versions(s3, target)
    assert set(versions) == set(records)
    assert set(versions.values()) == {1}, "a result was written more than once"
    assert usage["prediction_count"]["current"] == RECORDS  # not what the killed one had saved
    # the resumed attempt skipped what the first one wrote and scored only the rest
    assert details["failed"] == 0
    assert details["skipped"] >= len(written)
    assert details["scored"] + details["skipped"] == details["total"] == RECORDS
    assert "requeued 1 interrupted run" in server.log.read_text()
