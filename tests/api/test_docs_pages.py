"""/docs and /redoc load nothing from another host: every script, style and icon they name
is served by the service itself (the browser test in tests/dashboard renders them)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_name_only_local_assets_and_they_are_served(
    client: TestClient, page: str
) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assets = ASSET.findall(html.text)
    assert any(asset.endswith(".js") for asset in assets), assets
    assert not re.search(r"https?://", html.text), "the page names another host"
    assert "default-src 'self'" in html.headers["content-security-policy"]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "caffebatch"
