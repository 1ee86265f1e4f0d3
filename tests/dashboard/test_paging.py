"""The models and deployments lists show a page of 50 with Previous/Next links, never a cut."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from caffebatch.dashboard.routes.paging import PAGE_SIZE, Pager
from caffebatch.service import identity, models
from caffebatch.service.context import ServiceContext
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import publish, sign_in
from tests.dashboard.test_tenancy import _deploy

LINK = re.compile(r'<a href="([^"]+)" rel="(prev|next)">')


def _links(html: str) -> dict[str, str]:
    return {rel: href.replace("&amp;", "&") for href, rel in LINK.findall(html)}


def _model_names(html: str) -> list[str]:
    return re.findall(r'href="/dashboard/models/[^"/]+">(paged-\d+)</a>', html)


def test_the_pager_clamps_and_links() -> None:
    assert (Pager.at(0, 0).first, Pager.at(0, 0).last, Pager.at(0, 0).next) == (0, 0, None)
    middle = Pager.at(50, 120)
    assert (middle.first, middle.last, middle.previous, middle.next) == (51, 100, 0, 100)
    assert Pager.at(-5, 120).start == 0
    assert Pager.at(500, 120).start == 100 and Pager.at(100, 100).start == 50


def test_the_second_models_page_shows_the_rest(
    context: ServiceContext, app_client: TestClient
) -> None:
    count = PAGE_SIZE + 7
    with context.db.session() as session:
        token = identity.issue(context, session, ADMIN_USER, ADMIN_PASSWORD).token
        principal = identity.authenticate(context, session, token)
        for i in range(count):
            models.create_model(context, session, principal, principal.instance_id,
                                f"paged-{i}", "", "caffe-1.0")
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)

    first = app_client.get("/dashboard/models").text
    assert len(_model_names(first)) == PAGE_SIZE
    assert _links(first) == {"next": f"/dashboard/models?start={PAGE_SIZE}"}
    assert f"1–{PAGE_SIZE} of {count}" in first

    second = app_client.get(_links(first)["next"]).text
    assert len(_model_names(second)) == count - PAGE_SIZE
    assert _links(second) == {"prev": "/dashboard/models?start=0"}
    assert set(_model_names(first) + _model_names(second)) == {f"paged-{i}" for i in range(count)}
    # a start past the end shows the last page rather than an empty one
    assert _model_names(app_client.get("/dashboard/models?start=9999").text) == \
        _model_names(second)


def test_the_second_deployments_page_names_its_own_models(
    app_client: TestClient, lenet_package: Path
) -> None:
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    older = publish(app_client, lenet_package, "older-lenet")
    newer = publish(app_client, lenet_package, "newer-lenet")
    early = [_deploy(app_client, older) for _ in range(3)]
    late = [_deploy(app_client, newer) for _ in range(PAGE_SIZE)]

    first = app_client.get("/dashboard/deployments").text
    assert sum(f'data-id="{d}"' in first for d in late) == PAGE_SIZE
    assert not any(d in first for d in early) and "older-lenet" not in first
    assert _links(first) == {"next": f"/dashboard/deployments?start={PAGE_SIZE}"}

    second = app_client.get(_links(first)["next"]).text
    assert all(f'data-id="{d}"' in second for d in early)
    assert not any(d in second for d in late)
    assert second.count("older-lenet") == 3 and "newer-lenet" not in second
    assert _links(second) == {"prev": "/dashboard/deployments?start=0"}
