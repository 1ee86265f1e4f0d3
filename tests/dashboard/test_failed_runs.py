"""A failed run's reason is on the list, on its page and on its error report; its bar is not full."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from caffebatch.jobs import StatusDetails
from caffebatch.service.context import ServiceContext
from caffebatch.store import states
from caffebatch.store.tables import Deployment
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import publish, sign_in
from tests.dashboard.test_tenancy import _deploy

REASON = "listing s3://in: the bucket does not exist"


def test_a_run_that_failed_before_listing_shows_why(
    context: ServiceContext, app_client: TestClient, lenet_package: Path
) -> None:
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    deployment_id = _deploy(app_client, publish(app_client, lenet_package, "failing-lenet"))
    failed = StatusDetails(states.FAILURE, failure={"code": "storage_error", "message": REASON})
    with context.db.session() as session:
        row = session.get(Deployment, deployment_id)
        assert row is not None
        row.status, row.progress = states.FAILURE, failed.to_json()

    listing = app_client.get("/dashboard/deployments").text
    assert "storage_error" in listing and REASON in listing
    assert "(100.0%)" not in listing and "0 of 0" not in listing
    assert "stopped before the inputs were listed" in listing
    assert 'class="bar unknown"' not in listing  # no moving bar for a run that is over
    page = app_client.get(f"/dashboard/deployments/{deployment_id}").text
    assert REASON in page and "(100.0%)" not in page
    report = app_client.get(f"/dashboard/deployments/{deployment_id}/errors").text
    assert REASON in report and "No bad inputs." not in report
