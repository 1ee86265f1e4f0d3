"""Health, metrics and logs: /healthz, /readyz (failing when PostgreSQL stops), /metrics parsed
with prometheus-client's own parser while a run moves its counters, and JSON log lines (uvicorn's
too) that carry the request id an error body gives as its trace."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from caffebatch.server import create_server
from caffebatch.settings import Settings
from tests.api.conftest import Api
from tests.api.live import LiveServer
from tests.api.test_deployments import create_local_run, wait, write_inputs
from tests.postgres import PostgresCluster

RECORDS = 800


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_move_while_a_run_scores(api: Api, tmp_path: Path, lenet_archive: bytes) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    write_inputs(data / "in", RECORDS)
    url = create_local_run(api, model_id, data, batch_size=4)
    deployment_id = url.rsplit("/", 1)[1]
    wait(api, url, lambda e: (e["status_details"].get("scored") or 0) > 0)

    during = scrape(api)
    wait(api, url, lambda e: e["status"] == "SUCCESS")
    after = scrape(api)

    scored = ("caffebatch_records_scored_total", ())
    assert 0 < during[scored] < after[scored] == RECORDS
    assert after[("caffebatch_records_failed_total", ())] == 0
    assert during[("caffebatch_runs_in_flight", ())] == 1
    assert after[("caffebatch_runs_in_flight", ())] == 0
    assert during[("caffebatch_runs", (("status", "RUNNING"),))] == 1
    assert after[("caffebatch_runs", (("status", "SUCCESS"),))] == 1
    assert after[("caffebatch_queue_depth", ())] == 0
    rate = ("caffebatch_run_records_per_second", (("deployment", deployment_id),))
    assert during.get(rate, 0) > 0 and rate not in after  # a finished run's rate is dropped
    assert after[("caffebatch_model_cache_lookups_total", (("result", "load"),))] == 1

    # requests by route template, not concrete path, with their latencies
    route = "/v3/wml_instances/{instance_id}/published_models/{model_id}/deployments/{deployment_id}"
    polled = ("caffebatch_http_requests_total",
              (("method", "GET"), ("route", route), ("status", "200")))  # fmt: skip
    assert during[polled] >= 1 and after[polled] > during[polled]
    timed = ("caffebatch_http_request_duration_seconds_count", (("method", "GET"), ("route", route)))
    assert after[timed] == after[polled]
    routes = {dict(labels)["route"] for _, labels in after if "route" in dict(labels)}
    assert route in routes and not any(deployment_id in r for r in routes)

    # a second run of the same model finds it in the cache
    (data / "out").rename(data / "first-out")
    wait(api, create_local_run(api, model_id, data, batch_size=4), lambda e: e["status"] == "SUCCESS")
    assert scrape(api)[("caffebatch_model_cache_lookups_total", (("result", "hit"),))] == 1


def test_readyz_fails_with_its_reason_when_postgresql_stops(tmp_path: Path) -> None:
    cluster = PostgresCluster().start()
    try:
        settings = Settings(
            home=tmp_path / "home", database_url=cluster.create_database("ready"),
            secret_key="test-secret", poll_interval_s=0.05,
        )  # fmt: skip
        with TestClient(create_server(settings)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"store": "ok", "workers": "ok", "executor": "ok"}
            cluster.stop()
            down = client.get("/readyz")
            assert down.status_code == 503
            checks = down.json()["checks"]
            assert checks["store"].startswith("the store does not answer: OperationalError")
            assert checks["workers"] == checks["executor"] == "ok"
            assert client.get("/healthz").json() == {"status": "ok"}  # the process still answers
    finally:
        cluster.stop()


def test_a_server_without_workers_is_not_ready(settings: Settings) -> None:
    with TestClient(create_server(settings, run_workers=False)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "this server runs no worker pool"


CLI_LINES = ("created instance ", "generated password", "data folder: ")  # click's, on stdout


def test_json_logs_carry_the_request_id_that_errors_give_as_trace(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "home", env={"CAFFEBATCH_LOG_FORMAT": "json"}).start()
    try:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(server.url + "/readyz").status_code == 200
        offered = f"probe-{uuid.uuid4().hex[:8]}"
        missing = httpx.get(server.url + "/v3/no-such-thing", headers={"X-Request-ID": offered})
        made_up = httpx.get(server.url + "/v3/wml_instances/nope/published_models")
    finally:
        server.stop()
    assert missing.status_code == 404
    assert missing.json()["trace"] == offered == missing.headers["X-Request-ID"]
    assert made_up.status_code == 401
    generated = made_up.json()["trace"]
    assert generated == made_up.headers["X-Request-ID"] and len(generated) == 32

    lines = [line for line in server.log.read_text().splitlines() if line]
    records = [json.loads(line) for line in lines if not line.startswith(CLI_LINES)]
    assert len(records) == len(lines) - 2  # all but click's two lines are JSON
    loggers = {record["logger"] for record in records}
    assert {"uvicorn.error", "uvicorn.access", "caffebatch.serve"} <= loggers
    for trace in (offered, generated):
        access = [r for r in records if r.get("request_id") == trace]
        assert [r["logger"] for r in access] == ["uvicorn.access"], access
        assert access[0]["message"].endswith(("404", "401"))
    # lines outside a request have no id
    assert all("request_id" not in r for r in records if r["logger"] == "caffebatch.serve")
