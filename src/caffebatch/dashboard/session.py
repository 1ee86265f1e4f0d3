"""Signed-in browsers: the session cookie and the CSRF tokens of its forms.

The session cookie holds the service's own bearer token (a signed JWT with an expiry, from
`identity.issue`, the same call the token endpoint makes), so the dashboard trusts exactly
what the REST API trusts. The cookie is HttpOnly, SameSite=Lax and scoped to the
dashboard's path, and Secure when the settings say so (`cookie_secure`, on by default for an
https `public_url`). Every form that changes anything carries a CSRF token: an HMAC of the
session's token under a key derived from the service secret, checked on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.datastructures import FormData

from caffebatch.errors import AuthenticationError, PermissionDeniedError
from caffebatch.service import identity
from caffebatch.service.context import ServiceContext
from caffebatch.service.identity import Principal

SESSION_COOKIE = "caffebatch_session"
SIGN_IN_COOKIE = "caffebatch_sign_in"  # the sign-in form's own CSRF token (no session yet)
CSRF_FIELD = "csrf_token"


class CsrfError(PermissionDeniedError):
    """A form came without the CSRF token of the session that it claims to come from."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request, and the CSRF token its forms must carry."""

    principal: Principal
    csrf: str


class Sessions:
    """Issues, reads and ends dashboard sessions for one service context."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._csrf_key = hmac.new(
            ctx.settings.signing_secret(), b"caffebatch dashboard csrf", hashlib.sha256
        ).digest()

    def sign_in(self, response: Response, path: str, username: str, password: str) -> None:
        """Check the credentials (AuthenticationError when wrong) and set the cookie."""
        with self.ctx.db.session() as session:
            issued = identity.issue(self.ctx, session, username, password)
        response.set_cookie(
            SESSION_COOKIE, issued.token, max_age=self.ctx.settings.token_lifetime_s,
            path=path, httponly=True, samesite="lax", secure=self.ctx.settings.secure_cookies,
        )
        response.delete_cookie(SIGN_IN_COOKIE, path=path)

    def sign_out(self, response: Response, path: str) -> None:
        response.delete_cookie(SESSION_COOKIE, path=path, httponly=True, samesite="lax",
                               secure=self.ctx.settings.secure_cookies)

    def viewer(self, request: Request) -> Viewer:
        """Who sent `request`; AuthenticationError when nobody is signed in (or expired)."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise AuthenticationError("sign in to use the dashboard", code="signed_out")
        with self.ctx.db.session() as session:
            principal = identity.authenticate(self.ctx, session, token)
        return Viewer(principal, self._csrf_for(token))

    def check_form(self, viewer: Viewer, form: FormData) -> None:
        """CsrfError unless the form carries the session's CSRF token."""
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, viewer.csrf):
            raise CsrfError("the form's CSRF token is missing or wrong; reload the page "
                            "and send it again", code="csrf_failed")

    def _csrf_for(self, token: str) -> str:
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()


def sign_in_token(request: Request) -> str:
    """The sign-in form's CSRF token: the browser's sign-in cookie, or a fresh random value."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def remember_sign_in_token(response: Response, token: str, path: str, *, secure: bool) -> None:
    """Set the sign-in form's token as a short-lived cookie, for the POST to match."""
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=3600, path=path, httponly=True,
                        samesite="lax", secure=secure)


def check_sign_in_form(request: Request, form: FormData) -> None:
    """CsrfError unless the sign-in form's token matches its cookie."""
    cookie = request.cookies.get(SIGN_IN_COOKIE) or ""
    sent = form.get(CSRF_FIELD)
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent, cookie):
        raise CsrfError("the sign-in form expired; reload the page and sign in again",
                        code="csrf_failed")
