"""The v3 client's paths and the seed's fields, one at a time, in process."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from caffebatch.api.schemas import seed_time
from tests.api.conftest import Api
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.api.test_deployments import local_body, wait

SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CAFFE = {"name": "lenet", "framework": {"name": "caffe", "version": "1.0"}, "author": {}}


def times_in(document: Any, key: str = "") -> list[str]:
    """Every value under a key ending in `_at` or `_date`, however deep."""
    if isinstance(document, dict):
        return [t for k, v in document.items() for t in times_in(v, k)]
    if isinstance(document, list):
        return [t for item in document for t in times_in(item, key)]
    return [document] if key.endswith(("_at", "_date")) and document is not None else []


def create_asset(api: Api) -> dict:
    created = api.request("POST", "/v3/ml_assets/models", json=CAFFE)
    assert created.status_code == 201, created.text
    return created.json()


def test_seed_time_has_milliseconds_and_z() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2018, 3, 14, 7, 23, 4, 749_999, tzinfo=UTC)
    assert seed_time(moment) == "2018-03-14T07:23:04.749Z"
    assert seed_time(moment.astimezone(timezone(timedelta(hours=2)))) == seed_time(moment)


def test_v2_token_and_the_json_body_refresh(api: Api) -> None:
    issued = api.client.get("/v2/identity/token", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert issued.status_code == 200
    token = issued.json()["token"]
    refreshed = api.client.put("/v3/identity/token", json={"token": token})  # no Authorization
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["instance_id"] == api.instance_id
    assert api.client.put("/v3/identity/token", json={"token": "forged"}).status_code == 401
    missing = api.client.put("/v3/identity/token")
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["code"] == "missing_token"


def test_instance_has_the_seeds_fields(api: Api) -> None:
    body = api.request("GET", api.base).json()
    entity = body["entity"]
    assert uuid.UUID(entity["plan_id"]) == uuid.uuid5(
        uuid.NAMESPACE_URL, f"caffebatch:plan:{entity['plan']}"
    )
    assert entity["organization_guid"] == entity["space_guid"] == api.instance_id
    assert entity["region"] == "local"
    assert entity["account"] == {
        "id": uuid.UUID(api.instance_id).hex,
        "name": "default",
        "type": "SELF_HOSTED",
    }
    assert entity["owner"]["ibm_id"] == ADMIN_USER
    assert entity["usage"]["expiration_date"] is None
    assert [SEED_TIME.match(t) is not None for t in times_in(body)] == [True, True]


def test_ml_assets_create_upload_get_download_delete(api: Api, lenet_archive: bytes) -> None:
    created = create_asset(api)
    model_id, slot = created["metadata"]["guid"], created["entity"]["model_version"]
    assert created["entity"]["model_type"] == "caffe-1.0"
    assert slot["content_url"] == f"{slot['url']}/content"
    assert api.request("GET", f"/v3/ml_assets/models/{model_id}/content").status_code == 404

    path = slot["content_url"].removeprefix("http://testserver")
    assert api.request("PUT", path, content=lenet_archive).status_code == 200
    model = api.request("GET", f"/v3/ml_assets/models/{model_id}").json()
    assert model["entity"]["latest_version"]["guid"] == slot["guid"]
    again = api.request("PUT", path, content=lenet_archive)
    assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "version_exists")
    bad = api.request(
        "PUT", f"/v3/ml_assets/models/{model_id}/versions/not-a-uuid/content",
        content=lenet_archive,
    )
    assert (bad.status_code, bad.json()["errors"][0]["code"]) == (400, "invalid_version_id")

    content = api.request("GET", f"/v3/ml_assets/models/{model_id}/content")
    assert content.status_code == 200 and content.content == lenet_archive
    assert api.request("DELETE", f"/v3/ml_assets/models/{model_id}").status_code == 204
    assert api.request("GET", f"{api.base}/published_models/{model_id}").status_code == 404


def test_new_version_its_paths_and_the_deployed_version_patch(
    api: Api, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    model_path = f"{api.base}/published_models/{model_id}"
    first = api.request("GET", model_path).json()["entity"]["latest_version"]
    created = api.request("POST", f"/v3/ml_assets/models/{model_id}", json=CAFFE)
    assert created.status_code == 201, created.text
    second = created.json()["metadata"]["guid"]
    content_url = created.json()["entity"]["model_version"]["content_url"]
    put = api.request("PUT", content_url.removeprefix("http://testserver"), content=lenet_archive)
    assert put.status_code == 200, put.text
    assert put.json()["entity"]["latest_version"]["guid"] == second
    for path in (f"{model_path}/versions/{second}", f"/v3/ml_assets/models/{model_id}/versions/{second}"):
        assert api.request("GET", path).json()["metadata"]["guid"] == second

    patch = [{"op": "replace", "path": "/deployed_version/url", "value": first["url"]}]
    patched = api.request("PATCH", model_path, json=patch)
    assert patched.status_code == 200, patched.text
    assert patched.json()["entity"]["latest_version"]["guid"] == first["guid"]
    wrong_path = api.request("PATCH", model_path, json=[{**patch[0], "path": "/name"}])
    assert (wrong_path.status_code, wrong_path.json()["errors"][0]["code"]) == (
        400,
        "unsupported_patch",
    )
    stranger = f"http://testserver/v3/ml_assets/models/{model_id}/versions/{uuid.uuid4()}"
    missing = api.request("PATCH", model_path, json=[{**patch[0], "value": stranger}])
    assert missing.status_code == 404
    mismatch = api.request(
        "POST", f"/v3/ml_assets/models/{model_id}",
        json={**CAFFE, "framework": {"name": "tensorflow", "version": "1.5"}},
    )
    assert mismatch.status_code == 400


def test_model_fields_feeds_and_the_last_page(api: Api, lenet_archive: bytes) -> None:
    first, second = api.publish(lenet_archive, "one"), api.publish(lenet_archive, "two")
    entity = api.request("GET", f"{api.base}/published_models/{first}").json()["entity"]
    assert entity["label_col"] == ""
    for feed in ("learning_configuration", "learning_iterations", "feedback", "evaluation_metrics"):
        url = entity[f"{feed}_url"]
        assert url.endswith(f"/published_models/{first}/{feed}")
        answer = api.request("GET", url.removeprefix("http://testserver"))
        assert answer.json() == {"count": 0, "resources": []}

    page = api.request("GET", f"{api.base}/published_models", params={"limit": 1}).json()
    assert page["next"]["url"].endswith("limit=1&start=1")
    last = api.request("GET", page["next"]["url"].removeprefix("http://testserver")).json()
    assert "next" not in last
    assert [m["metadata"]["guid"] for m in page["resources"] + last["resources"]] == [first, second]
    assert times_in(page) and all(SEED_TIME.match(t) for t in times_in(page))


def test_instance_level_deployment_and_the_failure_shape(
    api: Api, tmp_path: Path, lenet_archive: bytes
) -> None:
    model_id = api.publish(lenet_archive)
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    (data / "in" / "broken.json").write_bytes(b"{}")
    created = api.request(
        "POST",
        f"{api.base}/published_models/{model_id}/deployments",
        json=local_body(data / "in", data / "out", max_error_ratio=0.0),
    )
    assert created.status_code == 202, created.text
    deployment_id = created.json()["metadata"]["guid"]
    path = f"{api.base}/deployments/{deployment_id}"
    entity = wait(api, path, lambda e: e["status"] not in ("INITIALIZING", "RUNNING"))

    assert entity["deployable_asset"]["guid"] == model_id
    assert entity["deployable_asset"]["url"].endswith(f"/published_models/{model_id}")
    assert entity["status"] == "FAILURE", entity
    failure = entity["status_details"]["failure"]
    assert failure["errors"] == [{"code": failure["code"], "message": failure["message"]}]
    assert entity["status_message"] == failure["message"]
    assert all(SEED_TIME.match(t) for t in times_in(entity["status_details"]))
    assert times_in(entity["status_details"])

    assert api.request("DELETE", path).status_code == 204
    assert api.request("GET", path).status_code == 404
