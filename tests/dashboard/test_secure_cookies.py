"""The dashboard's cookies carry Secure when the server is reached over https: by default
when `public_url` is https, or as `cookie_secure` says."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from caffebatch.server import create_server
from caffebatch.service.context import open_context
from caffebatch.service.instances import bootstrap
from caffebatch.settings import Settings
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import sign_in


@pytest.mark.parametrize(
    ("public_url", "cookie_secure", "secure"),
    [
        (None, None, False),
        ("http://caffebatch.internal:8080", None, False),
        ("https://caffebatch.example.com", None, True),
        ("https://caffebatch.example.com", False, False),
        (None, True, True),
    ],
)
def test_the_secure_flag_follows_the_settings(
    tmp_path: Path, public_url: str | None, cookie_secure: bool | None, secure: bool
) -> None:
    settings = Settings(home=tmp_path / "home", admin_user=ADMIN_USER,
                        admin_password=ADMIN_PASSWORD, secret_key="cookie-test",
                        public_url=public_url, cookie_secure=cookie_secure)
    ctx = open_context(settings)
    assert bootstrap(ctx) is not None
    app = create_server(settings, context=ctx, run_workers=False)
    # https: a client keeps and sends back Secure cookies only over https
    with TestClient(app, base_url="https://127.0.0.1") as client:
        form = client.get("/dashboard/sign-in")
        response = sign_in(client, ADMIN_USER, ADMIN_PASSWORD)
        assert response.status_code == 303
        cookies = [*form.headers.get_list("set-cookie"), *response.headers.get_list("set-cookie")]
        for name in ("caffebatch_sign_in=", "caffebatch_session="):
            cookie = next(c for c in cookies if c.startswith(name)).lower()
            assert ("; secure" in cookie) is secure, cookie
        assert client.get("/dashboard/").status_code == 200
    ctx.db.dispose()
