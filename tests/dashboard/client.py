"""A signed-in dashboard client over plain HTTP (httpx or Starlette's TestClient)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Sign in the way a browser does: load the form, post it with its token."""
    page = client.get("/dashboard/sign-in")
    assert page.status_code == 200, page.text
    return client.post("/dashboard/sign-in", data={
        "csrf_token": form_token(page.text), "username": username, "password": password,
        "next": "/dashboard/",
    }, follow_redirects=False)


def publish(client: httpx.Client, package: Path, name: str) -> str:
    """Upload a model package through the upload form; the new model's id."""
    token = form_token(client.get("/dashboard/models/new").text)
    response = client.post("/dashboard/models", data={"csrf_token": token, "name": name},
                           files={"package": (package.name, package.read_bytes())},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]
