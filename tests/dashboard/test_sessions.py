"""Signing in and out, the session cookie's attributes, and CSRF on every changing form."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import form_token, sign_in


def test_pages_need_a_session(app_client: TestClient) -> None:
    for path in ("/dashboard/", "/dashboard/models", "/dashboard/deployments/new",
                 "/dashboard/deployments/progress.json"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/sign-in?next=")


def test_sign_in_sets_a_signed_httponly_samesite_cookie(app_client: TestClient) -> None:
    response = sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("caffebatch_session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attributes
    assert "samesite=lax" in cookie.lower() and "path=/dashboard" in cookie.lower()
    assert app_client.get("/dashboard/").status_code == 200

    # the cookie is the service's signed token: a changed byte signs nobody in
    token = app_client.cookies.get("caffebatch_session")
    app_client.cookies.set("caffebatch_session", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
                           path="/dashboard")
    assert app_client.get("/dashboard/", follow_redirects=False).status_code == 303


def test_wrong_password_is_shown_on_the_form(app_client: TestClient) -> None:
    response = sign_in(app_client, ADMIN_USER, "not-the-password")
    assert response.status_code == 401
    assert "wrong username or password" in response.text
    assert "caffebatch_session" not in app_client.cookies


def test_sign_in_form_without_its_token_is_refused(app_client: TestClient) -> None:
    response = app_client.post("/dashboard/sign-in", data={
        "username": ADMIN_USER, "password": ADMIN_PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert "caffebatch_session" not in app_client.cookies


def test_sign_in_never_redirects_off_the_dashboard(app_client: TestClient) -> None:
    for wanted in ("https://evil.example/", "//evil.example/dashboard/", "/v3/identity/token"):
        page = app_client.get("/dashboard/sign-in")
        response = app_client.post("/dashboard/sign-in", data={
            "csrf_token": form_token(page.text), "username": ADMIN_USER,
            "password": ADMIN_PASSWORD, "next": wanted}, follow_redirects=False)
        assert response.headers["location"] == "/dashboard/", wanted


def test_forms_without_their_csrf_token_are_refused(app_client: TestClient,
                                                    lenet_package) -> None:  # type: ignore[no-untyped-def]
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    files = {"package": ("lenet.tar.gz", lenet_package.read_bytes(), "application/gzip")}
    for token in (None, "0" * 64):
        data = {"name": "lenet"} | ({"csrf_token": token} if token else {})
        refused = app_client.post("/dashboard/models", data=data, files=files)
        assert refused.status_code == 403, refused.text
        assert "CSRF" in refused.text
    assert "No models yet" in app_client.get("/dashboard/models").text
    assert app_client.post("/dashboard/sign-out", follow_redirects=False).status_code == 403
    assert app_client.get("/dashboard/").status_code == 200  # still signed in

    token = form_token(app_client.get("/dashboard/").text)
    signed_out = app_client.post("/dashboard/sign-out", data={"csrf_token": token},
                                 follow_redirects=False)
    assert signed_out.status_code == 303
    assert app_client.get("/dashboard/", follow_redirects=False).status_code == 303
