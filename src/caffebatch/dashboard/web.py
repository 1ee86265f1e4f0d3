"""What every page shares: the dashboard's state, the signed-in viewer, posted forms, rendering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caffebatch.dashboard.progress import duration
from caffebatch.dashboard.session import CSRF_FIELD, Sessions, Viewer
from caffebatch.errors import PayloadTooLargeError, most_specific
from caffebatch.service.context import ServiceContext

HERE = Path(__file__).parent
FORM_OVERHEAD = 1024 * 1024  # room for a form's other fields next to an uploaded package


@dataclass
class Dashboard:
    """Built once by `create_dashboard`; every page reaches it through `DashboardDep`."""

    ctx: ServiceContext
    sessions: Sessions
    templates: Jinja2Templates

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session that commits at the end of the block, or rolls back."""
        with self.ctx.db.session() as session:
            yield session


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=HERE / "templates")
    found.env.filters["duration"] = duration
    found.env.filters["number"] = lambda value: f"{value:,}" if isinstance(value, int) else value
    found.env.globals["csrf_field"] = CSRF_FIELD
    return found


def root(request: Request) -> str:
    """The path the dashboard is mounted at (for example "/dashboard")."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def get_dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


def get_viewer(request: Request, dashboard: DashboardDep) -> Viewer:
    return dashboard.sessions.viewer(request)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def get_posted_form(request: Request, dashboard: DashboardDep, viewer: ViewerDep) -> FormData:
    """The request's form, once its size and CSRF token are checked."""
    limit = form_limit(dashboard.ctx)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the form is {declared} bytes; the limit is {limit}")
    form = await request.form()
    dashboard.sessions.check_form(viewer, form)
    return form


PostedForm = Annotated[FormData, Depends(get_posted_form)]


class BodyLimit:
    """Refuses a request body past `limit` bytes while it streams in (413).

    A chunked upload declares no Content-Length, and Starlette's form parser spools file
    parts to disk without a cap, so the size must be counted as the body arrives.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise PayloadTooLargeError(f"the form is over the limit of {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def form_limit(ctx: ServiceContext) -> int:
    """The most bytes a posted form may have: a package and the form's other fields."""
    return ctx.settings.packages.max_archive_bytes + FORM_OVERHEAD


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from `templates/<template>`, with the viewer and the mount path in its context."""
    dashboard = get_dashboard(request)
    return dashboard.templates.TemplateResponse(
        request, template, {"root": root(request), **context}, status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def redirect(request: Request, path: str) -> RedirectResponse:
    """A 303 to a dashboard path (after a POST, the browser GETs the next page)."""
    return RedirectResponse(root(request) + path, status_code=303)


def status_of(error: Exception) -> int:
    """The HTTP status the REST API gives this error (its one table), 500 when none."""
    from caffebatch.api.errors import STATUS

    return most_specific(STATUS, error) or 500
