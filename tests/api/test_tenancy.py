"""Tenancy and authentication: another instance's token, wrong and expired tokens."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from caffebatch.service import instances
from caffebatch.service.context import ServiceContext
from caffebatch.service.crypto import Keys
from caffebatch.store.tables import User
from tests.api.conftest import Api
from tests.api.live import ADMIN_USER


@pytest.fixture
def two_instances(
    api: Api, client: TestClient, context: ServiceContext, tmp_path: Path, lenet_archive: bytes
) -> tuple[Api, Api, dict[str, str]]:
    with context.db.session() as session:
        other = instances.create_instance(session, "other", "standard")
        instances.create_user(session, other.id, "mallory", "mallory-password")
    intruder = Api(client, other.id, "mallory", "mallory-password")
    model_id = api.publish(lenet_archive)
    (tmp_path / "data" / "in").mkdir(parents=True)
    deployment = api.request(
        "POST",
        f"{api.base}/published_models/{model_id}/deployments",
        json={
            "name": "d",
            "input": {"type": "local", "source": {"path": str(tmp_path / "data/in")}},
            "output": {"type": "local", "target": {"path": str(tmp_path / "data/out")}},
        },
    )
    assert deployment.status_code == 202, deployment.text
    version_id = deployment.json()["entity"]["deployed_version"]["guid"]
    ids = {
        "iid": api.instance_id,
        "mid": model_id,
        "did": deployment.json()["metadata"]["guid"],
        "vid": version_id,
        "own": other.id,
    }
    return api, intruder, ids


# paths under the victim's instance: the intruder's token is for another instance -> 403
FOREIGN_INSTANCE = [
    ("GET", "/v3/wml_instances/{iid}"),
    ("GET", "/v3/wml_instances/{iid}/published_models"),
    ("POST", "/v3/wml_instances/{iid}/published_models"),
    ("GET", "/v3/wml_instances/{iid}/published_models/{mid}"),
    ("DELETE", "/v3/wml_instances/{iid}/published_models/{mid}"),
    ("PUT", "/v3/wml_instances/{iid}/published_models/{mid}/content"),
    ("GET", "/v3/wml_instances/{iid}/deployments"),
    ("GET", "/v3/wml_instances/{iid}/published_models/{mid}/deployments"),
    ("POST", "/v3/wml_instances/{iid}/published_models/{mid}/deployments"),
    ("GET", "/v3/wml_instances/{iid}/published_models/{mid}/deployments/{did}"),
    ("DELETE", "/v3/wml_instances/{iid}/published_models/{mid}/deployments/{did}"),
]

# the victim's resources reached through the intruder's own instance: invisible -> 404
FOREIGN_RESOURCE = [
    ("GET", "/v3/wml_instances/{own}/published_models/{mid}"),
    ("DELETE", "/v3/wml_instances/{own}/published_models/{mid}"),
    ("PUT", "/v3/wml_instances/{own}/published_models/{mid}/content"),
    ("GET", "/v3/wml_instances/{own}/published_models/{mid}/deployments"),
    ("POST", "/v3/wml_instances/{own}/published_models/{mid}/deployments"),
    ("GET", "/v3/wml_instances/{own}/published_models/{mid}/deployments/{did}"),
    ("DELETE", "/v3/wml_instances/{own}/published_models/{mid}/deployments/{did}"),
    ("GET", "/v3/ml_assets/models/{mid}/versions/{vid}"),
    ("GET", "/v3/ml_assets/models/{mid}/versions/{vid}/content"),
]

BODIES = {
    "POST": {
        "name": "x",
        "input": {"type": "local", "source": {"path": "/tmp"}},
        "output": {"type": "local", "target": {"path": "/tmp/o"}},
    },
}


def _body(method: str, path: str) -> dict:
    if path.endswith("/content"):
        return {"content": b"\x1f\x8b not really"}
    if method == "POST":
        return {"json": BODIES["POST"] if "deployments" in path else {"name": "stolen"}}
    return {}


def test_another_instances_paths_are_forbidden_and_its_resources_invisible(two_instances) -> None:
    owner, intruder, ids = two_instances
    for method, template in FOREIGN_INSTANCE:
        path = template.format(**ids)
        response = intruder.request(method, path, **_body(method, path))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["errors"][0]["code"] == "forbidden"
    for method, template in FOREIGN_RESOURCE:
        path = template.format(**ids)
        response = intruder.request(method, path, **_body(method, path))
        assert response.status_code == 404, (method, path, response.text)
    # the owner still sees everything, unchanged
    model = owner.request("GET", f"{owner.base}/published_models/{ids['mid']}")
    assert model.status_code == 200
    assert model.json()["entity"]["latest_version"]["guid"] == ids["vid"]
    deployments = owner.request("GET", f"{owner.base}/deployments").json()
    assert [d["metadata"]["guid"] for d in deployments["resources"]] == [ids["did"]]
    assert intruder.request("GET", f"{intruder.base}/deployments").json()["count"] == 0


def test_wrong_and_expired_tokens_get_401(
    api: Api, client: TestClient, context: ServiceContext
) -> None:
    path = api.base
    with context.db.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == ADMIN_USER))
    expired = context.keys.issue_token(user_id, api.instance_id, now=time.time() - 7200)
    forged = Keys(b"not the server's secret", 3600).issue_token(user_id, api.instance_id)
    cases = {
        "no header": {},
        "garbage": {"Authorization": "Bearer garbage"},
        "basic instead of bearer": {"Authorization": "Basic YWRtaW46eA=="},
        "expired": {"Authorization": f"Bearer {expired}"},
        "forged": {"Authorization": f"Bearer {forged}"},
    }
    for case, headers in cases.items():
        response = client.get(path, headers=headers)
        assert response.status_code == 401, case
        assert response.json()["errors"][0]["code"] in {
            "missing_token",
            "invalid_token",
            "token_expired",
        }, case
    assert client.get(path, headers=cases["expired"]).json()["errors"][0]["code"] == "token_expired"
    assert client.get("/v3/identity/token", auth=("admin", "wrong")).status_code == 401
    assert client.get("/v3/identity/token", auth=("nobody", "x")).status_code == 401
    assert client.get("/v3/identity/token").status_code == 401


def test_a_token_is_refreshed_with_put(api: Api, client: TestClient) -> None:
    refreshed = client.put("/v3/identity/token", headers=api.headers)
    assert refreshed.status_code == 200
    token = refreshed.json()["token"]
    assert client.get(api.base, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.put("/v3/identity/token").status_code == 401
