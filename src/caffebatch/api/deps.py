"""Dependencies the routers share, as Annotated aliases (ContextDep, SessionDep, CurrentUser)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from sqlalchemy.orm import Session

from caffebatch.errors import AuthenticationError
from caffebatch.service import identity
from caffebatch.service.context import ServiceContext
from caffebatch.service.identity import Principal

bearer = HTTPBearer(auto_error=False, description="A token from /v3/identity/token")
basic = HTTPBasic(auto_error=False, description="A user's name and password")


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    # scope="function" (below) commits before the response goes out, so a client that
    # reads right after a write sees it.
    with ctx.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_current_user(
    ctx: ContextDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "this call needs 'Authorization: Bearer <token>'; get a token from /v3/identity/token",
            code="missing_token",
        )
    return identity.authenticate(ctx, session, credentials.credentials)


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def get_basic_credentials(
    credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
) -> HTTPBasicCredentials:
    if credentials is None:
        raise AuthenticationError(
            "this call needs HTTP Basic credentials (curl --user name:password)",
            code="missing_credentials",
        )
    return credentials


BasicCredentials = Annotated[HTTPBasicCredentials, Depends(get_basic_credentials)]


def base_url(request: Request) -> str:
    """The server's URL as the client reached it, for the urls in responses."""
    return str(request.base_url).rstrip("/")


BaseUrl = Annotated[str, Depends(base_url)]
