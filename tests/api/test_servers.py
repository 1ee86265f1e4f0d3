"""Several `caffebatch serve` processes on one PostgreSQL store (issue 13).

Deployments spread over the servers; a server starting while others run requeues nothing of
theirs; a server killed with SIGKILL in the middle of a run loses it to another once its
lease lapses, and the run ends SUCCESS with every input written exactly once; a DELETE sent
to any server stops the run on the server that executes it, and nothing lands after its 204.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.api.conftest import digits, seed_objects
from tests.api.live import LiveServer
from tests.api.test_restart import result_versions, token, upload_all, wait_for
from tests.s3server import S3Server

RECORDS = 1500
LEASE_S = 6


def owners(url: str) -> dict[str, tuple[str, str | None]]:
    """deployment id -> (status, lease owner), read from the store itself."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, status, lease_owner FROM deployments"))
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        engine.dispose()


def pid_of(owner: str | None) -> int | None:
    return None if owner is None else int(owner.split(":")[1])


class Cluster:
    """The servers, the model they share, and deployments made through any of them."""

    def __init__(self, tmp_path: Path, url: str, s3: S3Server, archive: bytes) -> None:
        env = {
            "CAFFEBATCH_DATABASE_URL": url,
            "CAFFEBATCH_LEASE_S": str(LEASE_S),
            "CAFFEBATCH_MAX_CONCURRENT_RUNS": "1",
        }
        self.home, self.env, self.s3, self.url = tmp_path / "home", env, s3, url
        self.servers: list[LiveServer] = []
        first = self.add("a")
        self.instance_id = first.instance_id()
        headers = token(first)
        self.base = f"/v3/wml_instances/{self.instance_id}/published_models"
        made = httpx.post(first.url + self.base, headers=headers, json={"name": "lenet"})
        self.model_id = made.json()["metadata"]["guid"]
        put = httpx.put(f"{first.url}{self.base}/{self.model_id}/content", headers=headers,
                        content=archive, timeout=60)
        assert put.status_code == 200, put.text
        records, _ = digits(RECORDS)
        self.names = set(records)
        self.source = s3.create_bucket(f"in-{uuid.uuid4().hex[:8]}")
        upload_all(s3, self.source, seed_objects(records))

    def add(self, name: str) -> LiveServer:
        server = LiveServer(self.home, env=self.env, name=name).start()
        self.servers.append(server)
        return server

    def deploy(self, server: LiveServer) -> tuple[str, str, str]:
        """(deployment id, its path, its target bucket), versioned to catch double writes."""
        target = self.s3.create_bucket()
        self.s3.client().put_bucket_versioning(
            Bucket=target, VersioningConfiguration={"Status": "Enabled"}
        )
        connection = {"access_key": "k", "secret_key": "s", "url": self.s3.url}
        created = httpx.post(
            f"{server.url}{self.base}/{self.model_id}/deployments",
            headers=token(server),
            json={
                "name": "shared", "batch_size": 16,
                "input": {"type": "cloudobjectstorage", "source": {"bucket": self.source},
                          "connection": connection},
                "output": {"type": "cloudobjectstorage", "target": {"bucket": target},
                           "connection": connection},
            },
        )  # fmt: skip
        assert created.status_code == 202, created.text
        guid = created.json()["metadata"]["guid"]
        return guid, created.json()["metadata"]["url"].removeprefix(server.url), target

    def runner(self, deployment_id: str) -> LiveServer:
        """The server whose lease the deployment is under (waiting for it to be claimed)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pid = pid_of(owners(self.url).get(deployment_id, ("", None))[1])
            for server in self.servers:
                if server.process is not None and server.process.pid == pid:
                    return server
            time.sleep(0.1)
        raise AssertionError(f"no server claimed {deployment_id}: {owners(self.url)}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def started(entity: dict) -> bool:
    return (entity["status_details"].get("scored") or 0) > 0


def ended(entity: dict) -> bool:
    return entity["status"] not in ("INITIALIZING", "RUNNING")


@pytest.mark.slow
def test_servers_share_a_store_take_over_a_killed_one_and_cancel_anywhere(
    tmp_path: Path, s3: S3Server, lenet_archive: bytes, postgres_url: str
) -> None:
    cluster = Cluster(tmp_path, postgres_url, s3, lenet_archive)
    try:
        a = cluster.servers[0]
        b = cluster.add("b")
        first, first_path, first_target = cluster.deploy(a)
        second, second_path, second_target = cluster.deploy(b)
        # one run each: every server runs one at a time
        assert {cluster.runner(first), cluster.runner(second)} == {a, b}
        victim = cluster.runner(first)
        survivor = b if victim is a else a
        wait_for(victim, first_path, started)
        leases_before = owners(postgres_url)

        c = cluster.add("c")  # starting while both run: it requeues nothing of theirs
        time.sleep(1)
        assert owners(postgres_url)[first] == leases_before[first]
        assert owners(postgres_url)[second] == leases_before[second]
        assert "requeued" not in c.log.read_text()

        victim.kill()
        written = result_versions(s3, first_target)
        assert 0 < len(written) < RECORDS, len(written)
        killed_at = time.monotonic()
        while owners(postgres_url)[first][1] == leases_before[first][1]:
            assert time.monotonic() - killed_at < 10 * LEASE_S, "nobody took the run over"
            time.sleep(0.1)
        # its last renewal was at most a third of the lease before the kill
        assert time.monotonic() - killed_at >= LEASE_S * 2 / 3 - 0.5, "a live lease was taken"
        final = wait_for(survivor, first_path, ended)
        assert wait_for(c, second_path, ended)["status"] == "SUCCESS"
        heirs = [s for s in (survivor, c) if "requeued 1 interrupted run" in s.log.read_text()]
        assert len(heirs) == 1, "exactly one server requeues the killed server's run"

        details = final["status_details"]
        assert final["status"] == "SUCCESS", details
        for target in (first_target, second_target):
            versions = result_versions(s3, target)
            assert set(versions) == cluster.names
            assert set(versions.values()) == {1}, "a result was written more than once"
        assert details["skipped"] >= len(written)
        assert details["scored"] + details["skipped"] == details["total"] == RECORDS

        # usage counted once: each deployment's predictions are the records scored for it
        engine = create_engine(postgres_url)
        try:
            with engine.connect() as connection:
                predictions = dict(
                    connection.execute(text("SELECT deployment_id, predictions FROM usage")).all()
                )
        finally:
            engine.dispose()
        assert predictions[second] == RECORDS
        assert predictions[first] <= RECORDS

        # DELETE through a server that does not run the deployment stops it where it runs
        third, third_path, third_target = cluster.deploy(survivor)
        running_on = cluster.runner(third)
        elsewhere = next(s for s in (survivor, c) if s is not running_on)
        wait_for(running_on, third_path, started)
        deleted = httpx.delete(elsewhere.url + third_path, headers=token(elsewhere), timeout=60)
        assert deleted.status_code == 204, deleted.text
        # answered once the run had stopped where it ran: nothing lands after the 204
        settled = len(result_versions(s3, third_target))
        assert "deleted or taken over elsewhere" in running_on.log.read_text(), (
            "the 204 came before the running server stopped the run; its log ends:\n"
            + running_on.log.read_text()[-4000:]
        )
        time.sleep(LEASE_S / 2)  # a heartbeat and more: a write still in flight would land
        assert len(result_versions(s3, third_target)) == settled < RECORDS
        assert third not in owners(postgres_url)
    finally:
        cluster.stop()
