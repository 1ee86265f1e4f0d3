"""Deployments in process: plan limits, allowed folders, cancel on DELETE, model in use."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from caffebatch.service.context import ServiceContext
from tests.api.conftest import Api, digits, seed_objects


def local_body(source: Path, target: Path, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "name": "local run",
        **extra,
        "input": {"type": "local", "source": {"path": str(source)}},
        "output": {"type": "local", "target": {"path": str(target)}},
    }


def create_local_run(api: Api, model_id: str, data: Path, **options) -> str:  # type: ignore[no-untyped-def]
    """POST a deployment from data/in to data/out; the deployment's path."""
    created = api.request(
        "POST",
        f"{api.base}/published_models/{model_id}/deployments",
        json=local_body(data / "in", data / "out", **options),
    )
    assert created.status_code == 202, created.text
    return created.json()["metadata"]["url"].removeprefix("http://testserver")


def write_inputs(folder: Path, count: int) -> set[str]:
    folder.mkdir(parents=True, exist_ok=True)
    records, _ = digits(count)
    for name, body in seed_objects(records).items():
        (folder / name).write_bytes(body)
    return set(records)


def count_results(folder: Path) -> int:
    return len([p for p in folder.iterdir() if p.suffix == ".json"])


def wait(api: Api, url: str, done, timeout_s: float = 60) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entity = api.request("GET", url).json()["entity"]
        if done(entity):
            return entity
        time.sleep(0.02)
    raise AssertionError(f"timed out: {entity}")


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"plan": "lite", "max_deployments": 2, "max_models": 1})


def test_plan_limits_are_enforced_with_a_clear_message(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    second = api.request("POST", f"{api.base}/published_models", json={"name": "another"})
    assert second.status_code == 429
    assert second.json()["errors"][0]["message"] == "Current plan 'lite' only allows 1 model"
    data = tmp_path / "data"
    write_inputs(data / "in", 2)
    url = f"{api.base}/published_models/{model_id}/deployments"
    for n in range(2):
        response = api.request("POST", url, json=local_body(data / "in", data / f"out{n}"))
        assert response.status_code == 202, response.text
    third = api.request("POST", url, json=local_body(data / "in", data / "out3"))
    assert third.status_code == 429
    assert third.json()["errors"][0] == {
        "code": "plan_limit_exceeded",
        "message": "Current plan 'lite' only allows 2 deployments",
    }
    usage = api.request("GET", api.base).json()["entity"]["usage"]
    assert usage["deployment_count"] == {"limit": 2, "current": 2}
    assert usage["model_count"] == {"limit": 1, "current": 1}


def test_local_folders_outside_the_allowed_roots_are_refused(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    url = f"{api.base}/published_models/{model_id}/deployments"
    outside = api.request("POST", url, json=local_body(tmp_path / "data/in", Path("/etc/out")))
    assert outside.status_code == 400
    assert outside.json()["errors"][0]["code"] == "local_path_not_allowed"
    sneaky = api.request(
        "POST", url, json=local_body(tmp_path / "data/../../in", tmp_path / "data/o")
    )
    assert sneaky.status_code == 400
    same = api.request("POST", url, json=local_body(tmp_path / "data/in", tmp_path / "data/in"))
    assert same.status_code == 400
    assert same.json()["errors"][0]["code"] == "same_location"
    # an output inside the input would fail the run; it is refused when created instead
    inside = api.request(
        "POST", url, json=local_body(tmp_path / "data/in", tmp_path / "data/in/out")
    )
    assert inside.status_code == 400
    assert inside.json()["errors"][0]["code"] == "same_location"
    assert "overlaps" in inside.json()["errors"][0]["message"]
    nul = api.request("POST", url, json=local_body(tmp_path / "data/in\0x", tmp_path / "data/o"))
    assert nul.status_code == 400
    assert "NUL" in nul.json()["errors"][0]["message"]


def test_delete_cancels_a_running_run_and_a_model_in_use_is_kept(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    write_inputs(data / "in", 1500)
    url = create_local_run(api, model_id, data, batch_size=4)
    wait(api, url, lambda e: e["status"] == "RUNNING" and (e["status_details"].get("scored") or 0))

    in_use = api.request("DELETE", f"{api.base}/published_models/{model_id}")
    assert in_use.status_code == 409
    assert in_use.json()["errors"][0]["code"] == "model_in_use"

    started = time.monotonic()
    assert api.request("DELETE", url).status_code == 204
    assert time.monotonic() - started < 10
    assert api.request("GET", url).status_code == 404
    settled = count_results(data / "out")  # at the 204: the run has ended, writes and all
    time.sleep(1.0)
    assert count_results(data / "out") == settled < 1500  # nothing landed after, and early
    usage = api.request("GET", api.base).json()["entity"]["usage"]
    assert usage["prediction_count"]["current"] == settled

    assert api.request("DELETE", f"{api.base}/published_models/{model_id}").status_code == 204
    assert api.request("GET", f"{api.base}/published_models/{model_id}").status_code == 404


def test_status_details_show_bad_records(api: Api, tmp_path: Path, lenet_archive: bytes) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    names = write_inputs(data / "in", 20)
    (data / "in" / "broken.json").write_bytes(b"{not json")
    (data / "in" / "wrong.json").write_bytes(orjson.dumps({"other": [1, 2]}))
    url = create_local_run(api, model_id, data, max_error_ratio=0.5)
    final = wait(api, url, lambda e: e["status"] not in ("INITIALIZING", "RUNNING"))
    details = final["status_details"]
    assert final["status"] == "PARTIAL_SUCCESS", details
    assert (details["total"], details["scored"], details["failed"]) == (22, 20, 2)
    assert {e["input"] for e in details["errors"]} == {"broken.json", "wrong.json"}
    assert {p.name for p in (data / "out").iterdir() if p.is_file()} == names
    usage = api.request("GET", api.base).json()["entity"]["usage"]
    assert usage["prediction_count"]["current"] == 20
    assert usage["computation_time"]["current"] >= 0


@pytest.mark.parametrize(
    ("used", "unit"),
    [({"predictions": 10}, "predictions"), ({"computation_s": 0.6}, "seconds of computation")],
)
def test_a_run_stops_when_the_instance_reaches_a_plan_limit(
    api: Api, context, tmp_path: Path, lenet_archive: bytes, used, unit  # type: ignore[no-untyped-def]
) -> None:
    from caffebatch.store.tables import Usage

    # the limit is the instance's: another (deleted) deployment already used most of it
    settings = context.settings
    limits = {"predictions": settings.max_predictions, "computation_s": settings.max_computation_s}
    with context.db.session() as session:
        session.add(Usage(deployment_id="earlier", instance_id=api.instance_id,
                          **{field: limits[field] - room for field, room in used.items()}))
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    write_inputs(data / "in", 1500)
    url = create_local_run(api, model_id, data, batch_size=1)
    final = wait(api, url, lambda e: e["status"] not in ("INITIALIZING", "RUNNING"))
    assert final["status"] == "FAILURE", final["status_details"]
    assert final["status_details"]["failure"]["code"] == "plan_limit_exceeded"
    assert final["status_details"]["failure"]["message"].endswith(unit)
    assert count_results(data / "out") < 1500


def test_deleting_a_model_removes_its_files(
    api: Api, context: ServiceContext, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    version = api.request("GET", f"{api.base}/published_models/{model_id}").json()
    folder = context.settings.models_dir / version["entity"]["latest_version"]["guid"]
    assert (folder / "model.onnx").exists()
    assert api.request("DELETE", f"{api.base}/published_models/{model_id}").status_code == 204
    assert not folder.exists()


@pytest.mark.parametrize(
    ("connection_url", "bucket", "prefix", "field", "code"),
    [
        ("not a url", "in-bucket", "", "input.connection.url", "invalid_url"),
        ("file:///etc", "in-bucket", "", "input.connection.url", "invalid_url"),
        ("https://", "in-bucket", "", "input.connection.url", "invalid_url"),
        ("http://127.0.0.1:9000", "A B/..", "", "input.source.bucket", "invalid_bucket"),
        ("http://127.0.0.1:9000", "ab", "", "input.source.bucket", "invalid_bucket"),
        ("http://127.0.0.1:9000", "192.168.0.1", "", "input.source.bucket", "invalid_bucket"),
        ("http://127.0.0.1:9000", "in-bucket", "a/../b", "input.source.prefix", "invalid_prefix"),
        ("http://127.0.0.1:9000", "in-bucket", "a//b", "input.source.prefix", "invalid_prefix"),
    ],
)
def test_s3_connections_are_checked_when_created(
    api: Api, lenet_archive: bytes, connection_url: str, bucket: str, prefix: str, field: str,
    code: str,
) -> None:
    model_id = api.publish(lenet_archive)
    connection = {"url": connection_url, "access_key": "k", "secret_key": "s"}
    body = {
        "name": "s3 run",
        "input": {"type": "cloudobjectstorage", "connection": connection,
                  "source": {"bucket": bucket, "prefix": prefix}},
        "output": {"type": "cloudobjectstorage", "connection": connection,
                   "target": {"bucket": "out-bucket"}},
    }
    answer = api.request("POST", f"{api.base}/published_models/{model_id}/deployments", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["code"] == code
    assert error["message"].startswith(field)


def test_a_relative_local_path_is_refused(api: Api, tmp_path: Path, lenet_archive: bytes) -> None:
    model_id = api.publish(lenet_archive)
    url = f"{api.base}/published_models/{model_id}/deployments"
    answer = api.request("POST", url, json=local_body(Path("data/in"), tmp_path / "data/o"))
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["code"] == "relative_path"
    assert error["message"].startswith("input.source.path must be an absolute path")
