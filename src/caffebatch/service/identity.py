"""Tokens: issued for a username and password, refreshed, and read back into a Principal."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from caffebatch.errors import AuthenticationError, PermissionDeniedError
from caffebatch.service.context import ServiceContext
from caffebatch.service.crypto import hash_password, needs_rehash, verify_password
from caffebatch.store.tables import User


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user of one instance."""

    user_id: str
    instance_id: str
    username: str

    def require_instance(self, instance_id: str) -> None:
        """PermissionDeniedError unless the caller belongs to `instance_id`."""
        if instance_id != self.instance_id:
            raise PermissionDeniedError("this token is not valid for instance " + repr(instance_id))


@dataclass(frozen=True)
class IssuedToken:
    token: str
    instance_id: str
    expires_at: int


def issue(ctx: ServiceContext, session: Session, username: str, password: str) -> IssuedToken:
    """A token for the user with these credentials; AuthenticationError when they are wrong.

    A stored hash weaker than the settings' cost is replaced now, while the password is known
    (the session's commit stores it)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not verify_password(password, user.password_hash):
        raise AuthenticationError("wrong username or password", code="invalid_credentials")
    if needs_rehash(user.password_hash, ctx.settings.password_scrypt_n):
        user.password_hash = hash_password(password, ctx.settings.password_scrypt_n)
    return _token_for(ctx, user)


def refresh(ctx: ServiceContext, session: Session, principal: Principal) -> IssuedToken:
    """A new token, with a fresh expiry, for the holder of a still-valid one."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise AuthenticationError("the token's user no longer exists", code="invalid_token")
    return _token_for(ctx, user)


def authenticate(ctx: ServiceContext, session: Session, token: str) -> Principal:
    """The Principal a bearer token speaks for; AuthenticationError when it is not valid."""
    claims = ctx.keys.read_token(token)
    user = session.get(User, claims.user_id)
    if user is None or user.instance_id != claims.instance_id:
        raise AuthenticationError("the token's user no longer exists", code="invalid_token")
    return Principal(user.id, user.instance_id, user.username)


def _token_for(ctx: ServiceContext, user: User) -> IssuedToken:
    token = ctx.keys.issue_token(user.id, user.instance_id)
    claims = ctx.keys.read_token(token)
    return IssuedToken(token, user.instance_id, claims.expires_at)
