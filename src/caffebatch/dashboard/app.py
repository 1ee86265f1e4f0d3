"""create_dashboard: the dashboard as an app of its own, mounted by the service at /dashboard."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from caffebatch.dashboard.routes import auth, deployments, gallery, models, overview, reports
from caffebatch.dashboard.session import Sessions
from caffebatch.dashboard.web import (
    HERE,
    BodyLimit,
    Dashboard,
    form_limit,
    render,
    root,
    status_of,
    templates,
)
from caffebatch.errors import (
    AuthenticationError,
    CaffebatchError,
    ObjectNotFoundError,
    StorageError,
    most_specific,
)
from caffebatch.service.context import ServiceContext

log = logging.getLogger("caffebatch.dashboard")

ROUTERS = (auth, overview, models, deployments, reports, gallery)

# errors the REST API never lets reach a client, as the dashboard answers them
PAGE_STATUS: dict[type[Exception], int] = {ObjectNotFoundError: 404, StorageError: 502}


def create_dashboard(ctx: ServiceContext) -> FastAPI:
    """The dashboard's pages over the same service functions as the REST API."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = Dashboard(ctx=ctx, sessions=Sessions(ctx), templates=templates())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    app.add_exception_handler(CaffebatchError, _error_page)
    app.add_exception_handler(HTTPException, _http_error_page)
    app.add_middleware(BodyLimit, limit=form_limit(ctx))
    return app


async def _error_page(request: Request, error: Exception) -> Response:
    if isinstance(error, AuthenticationError):  # signed out or expired (a CSRF failure is a 403)
        return _to_sign_in(request)
    status = most_specific(PAGE_STATUS, error) or status_of(error)
    if status >= 500:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return _page(request, status, str(error))


async def _http_error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _page(request, error.status_code, str(error.detail))


def _to_sign_in(request: Request) -> Response:
    wanted = request.url.path if request.method == "GET" else root(request) + "/"
    return RedirectResponse(f"{root(request)}/sign-in?next={quote(wanted)}", status_code=303)


def _page(request: Request, status: int, message: str) -> Response:
    viewer = None
    try:
        viewer = request.app.state.dashboard.sessions.viewer(request)
    except CaffebatchError:
        pass
    return render(request, "error.html", status, viewer=viewer, code=status, message=message)
