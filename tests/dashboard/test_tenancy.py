"""A user of one instance sees none of another instance's models or deployments."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from caffebatch.server import create_server
from caffebatch.service import instances
from caffebatch.service.context import ServiceContext
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import form_token, publish, sign_in


def _deploy(client: TestClient, model_id: str) -> str:
    token = form_token(client.get("/dashboard/deployments/new").text)
    side = {"kind": "s3", "endpoint": "http://127.0.0.1:9", "access_key": "a", "secret_key": "s"}
    data = {"csrf_token": token, "model": model_id, "name": "first-run",
            "max_error_ratio": "0.1", "input_bucket": "in-bucket", "output_bucket": "out-bucket"}
    data |= {f"{s}_{k}": v for s in ("input", "output") for k, v in side.items()}
    response = client.post("/dashboard/deployments", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def test_a_second_instance_sees_nothing_of_the_first(
    context: ServiceContext, app_client: TestClient, lenet_package: Path
) -> None:
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    model_id = publish(app_client, lenet_package, "first-instance-lenet")
    deployment_id = _deploy(app_client, model_id)
    assert "first-instance-lenet" in app_client.get("/dashboard/models").text
    assert "first-run" in app_client.get("/dashboard/deployments").text
    queued = app_client.get("/dashboard/deployments/progress.json").json()[deployment_id]
    assert (queued["status"], queued["label"], queued["active"]) == ("INITIALIZING", "Queued", True)

    with context.db.session() as session:
        other = instances.create_instance(session, "other", "standard")
        instances.create_user(session, other.id, "bob", "bob-password")
    app = create_server(context.settings, context=context, run_workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as bob:
        assert sign_in(bob, "bob", "bob-password").status_code == 303
        overview = bob.get("/dashboard/").text
        assert other.id in overview and re.search(r"0 of \d[\d,]* models", overview)
        models = bob.get("/dashboard/models").text
        assert "No models yet" in models and "first-instance-lenet" not in models
        runs = bob.get("/dashboard/deployments").text
        assert "No deployments yet" in runs and "first-run" not in runs
        assert bob.get("/dashboard/deployments/progress.json").json() == {}
        assert "first-instance-lenet" not in bob.get("/dashboard/deployments/new").text
        for path in (f"/dashboard/models/{model_id}", f"/dashboard/deployments/{deployment_id}",
                     f"/dashboard/deployments/{deployment_id}/progress.json",
                     f"/dashboard/deployments/{deployment_id}/errors",
                     f"/dashboard/deployments/{deployment_id}/errors.jsonl",
                     f"/dashboard/deployments/{deployment_id}/delete"):
            response = bob.get(path)
            assert response.status_code == 404, path
            assert "first-instance-lenet" not in response.text

        # bob's own, valid CSRF token does not let him delete the first instance's run
        token = form_token(bob.get("/dashboard/").text)
        refused = bob.post(f"/dashboard/deployments/{deployment_id}/delete",
                           data={"csrf_token": token})
        assert refused.status_code == 404
    assert app_client.get(f"/dashboard/deployments/{deployment_id}").status_code == 200
