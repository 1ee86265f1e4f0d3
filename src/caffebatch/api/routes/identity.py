"""/v3/identity/token (and the v2 path the v3 client's repository part asks): tokens for HTTP
Basic credentials, and their refresh."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.security import HTTPAuthorizationCredentials

from caffebatch.api.deps import BasicCredentials, ContextDep, SessionDep, bearer
from caffebatch.api.schemas import TokenPublic, TokenRefresh
from caffebatch.errors import AuthenticationError
from caffebatch.service import identity

router = APIRouter(tags=["identity"])

# path -> the methods that issue a token there for Basic credentials
ISSUE_PATHS = {"/v3/identity/token": ("GET", "POST"), "/v2/identity/token": ("GET",)}


def _public(issued: identity.IssuedToken) -> TokenPublic:
    return TokenPublic(
        token=issued.token, instance_id=issued.instance_id, expires_at=issued.expires_at
    )


def get_token(ctx: ContextDep, session: SessionDep, credentials: BasicCredentials) -> TokenPublic:
    """A token for these HTTP Basic credentials."""
    return _public(identity.issue(ctx, session, credentials.username, credentials.password))


for _path, _methods in ISSUE_PATHS.items():
    for _method in _methods:  # one route per method: each has its own operation id
        router.add_api_route(
            _path, get_token, methods=[_method], summary="Get a token with HTTP Basic credentials"
        )


@router.put(
    "/v3/identity/token",
    summary="Refresh a still-valid token (as the Bearer header, or as the body's `token`)",
)
def refresh_token(
    ctx: ContextDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    body: Annotated[TokenRefresh | None, Body()] = None,
) -> TokenPublic:
    # the v3 client sends {"token": ...} and no Authorization header
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials
    elif body is not None:
        token = body.token
    else:
        raise AuthenticationError(
            "refreshing needs the token, as 'Authorization: Bearer <token>' or as the JSON "
            'body {"token": "<token>"}',
            code="missing_token",
        )
    principal = identity.authenticate(ctx, session, token)
    return _public(identity.refresh(ctx, session, principal))
