"""Signing in and out, with the same usernames and passwords as /v3/identity/token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from caffebatch.dashboard.session import (
    check_sign_in_form,
    remember_sign_in_token,
    sign_in_token,
)
from caffebatch.dashboard.web import (
    DashboardDep,
    PostedForm,
    get_dashboard,
    redirect,
    render,
    root,
)
from caffebatch.errors import AuthenticationError

router = APIRouter()


def _next_page(request: Request, wanted: str) -> str:
    """Where to go after signing in: a path inside the dashboard, never another site."""
    base = root(request)
    if wanted.startswith(base + "/") and not wanted.startswith("//"):
        return wanted.removeprefix(base)
    return "/"


def _form(request: Request, status: int, next: str, username: str, error: str | None) -> Response:
    token = sign_in_token(request)
    page = render(request, "sign_in.html", status=status, csrf=token, next=next,
                  username=username, error=error)
    secure = get_dashboard(request).ctx.settings.secure_cookies
    remember_sign_in_token(page, token, root(request) or "/", secure=secure)
    return page


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "") -> Response:
    return _form(request, 200, next, "", None)


@router.post("/sign-in")
async def sign_in(request: Request, dashboard: DashboardDep) -> Response:
    form = await request.form()
    check_sign_in_form(request, form)
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    wanted = str(form.get("next") or "")
    response = redirect(request, _next_page(request, wanted))
    try:
        await run_in_threadpool(
            dashboard.sessions.sign_in, response, root(request) or "/", username, password
        )
    except AuthenticationError as error:
        return _form(request, 401, wanted, username, str(error))
    return response


@router.post("/sign-out")
def sign_out(request: Request, dashboard: DashboardDep, form: PostedForm) -> Response:
    response = redirect(request, "/sign-in")
    dashboard.sessions.sign_out(response, root(request) or "/")
    return response
