"""/v3/identity/token: tokens for HTTP Basic credentials, and their refresh."""

from __future__ import annotations

from fastapi import APIRouter

from caffebatch.api.deps import BasicCredentials, ContextDep, CurrentUser, SessionDep
from caffebatch.api.schemas import TokenPublic
from caffebatch.service import identity

router = APIRouter(prefix="/v3/identity", tags=["identity"])


def _public(issued: identity.IssuedToken) -> TokenPublic:
    return TokenPublic(
        token=issued.token, instance_id=issued.instance_id, expires_at=issued.expires_at
    )


@router.get("/token", summary="Get a token with HTTP Basic credentials")
@router.post("/token", summary="Get a token with HTTP Basic credentials", include_in_schema=True)
def get_token(ctx: ContextDep, session: SessionDep, credentials: BasicCredentials) -> TokenPublic:
    return _public(identity.issue(ctx, session, credentials.username, credentials.password))


@router.put("/token", summary="Refresh a still-valid token")
def refresh_token(ctx: ContextDep, session: SessionDep, user: CurrentUser) -> TokenPublic:
    return _public(identity.refresh(ctx, session, user))
