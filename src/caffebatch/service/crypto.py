"""Passwords, tokens and connection secrets.

- Passwords: scrypt with a per-user random salt, stored as ``scrypt$n$r$p$salt$hash``, at
  N=2**17 by default (OWASP's minimum); a stored hash of lower cost is rehashed at the next
  successful sign-in (`needs_rehash`).
- Tokens: JWT (HS256) naming the user and the instance, with an expiry.
- Connection secrets: Fernet, with a key derived (HKDF) from the service secret, so the
  same secret never signs tokens and encrypts data directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from caffebatch.errors import AuthenticationError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MASK = "*****"
# One scrypt at N=2**17, r=8 holds 128 MiB: a burst of sign-ins on the server's thread pool
# (40 threads) must not hold 5 GiB, so at most this many hash at once and the rest wait.
_HASHING = threading.BoundedSemaphore(4)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs 128*r*(n + p + 2) bytes; Python's default cap (32 MiB) is below N=2**17
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    with _HASHING:
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=maxmem)


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    """A salted scrypt hash of `password` at cost `n`, with its parameters, for storage."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _parameters(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        return int(n), int(r), int(p), bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash made by `hash_password` (constant-time compare)."""
    parameters = _parameters(stored)
    if parameters is None:
        return False
    n, r, p, salt, digest = parameters
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def needs_rehash(stored: str, n: int = SCRYPT_N) -> bool:
    """Whether a stored hash is weaker than `hash_password(..., n)` would make it now."""
    parameters = _parameters(stored)
    return parameters is None or parameters[0] < n or parameters[1] < SCRYPT_R


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


@dataclass(frozen=True)
class Claims:
    """Who a valid token speaks for."""

    user_id: str
    instance_id: str
    expires_at: int


class Keys:
    """The token signer and the secrets cipher, both derived from the service secret."""

    def __init__(self, secret: bytes, token_lifetime_s: int) -> None:
        self._signing_key = _derive(secret, b"caffebatch tokens")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"caffebatch secrets")))
        self.token_lifetime_s = token_lifetime_s

    def issue_token(self, user_id: str, instance_id: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "sub": user_id,
            "instance_id": instance_id,
            "iat": issued,
            "exp": issued + self.token_lifetime_s,
        }
        return jwt.encode(claims, self._signing_key, algorithm="HS256")

    def read_token(self, token: str) -> Claims:
        """The token's claims; AuthenticationError when it is forged, malformed or expired."""
        try:
            claims = jwt.decode(
                token,
                self._signing_key,
                algorithms=["HS256"],
                options={"require": ["sub", "exp", "instance_id"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthenticationError(
                "the token has expired; get a new one from /v3/identity/token", code="token_expired"
            ) from error
        except jwt.InvalidTokenError as error:
            raise AuthenticationError("the token is not valid", code="invalid_token") from error
        return Claims(str(claims["sub"]), str(claims["instance_id"]), int(claims["exp"]))

    def encrypt(self, values: dict[str, dict[str, str]]) -> bytes:
        """Seal a deployment's secrets, by side ("source", "target")."""
        return self._fernet.encrypt(json.dumps(values).encode())

    def decrypt(self, blob: bytes) -> dict[str, dict[str, str]]:
        """What `encrypt` sealed; AuthenticationError when the service secret changed since."""
        try:
            values: dict[str, dict[str, str]] = json.loads(self._fernet.decrypt(blob))
            return values
        except InvalidToken as error:
            raise AuthenticationError(
                "stored connection secrets cannot be decrypted: the service secret changed",
                code="secret_key_changed",
            ) from error
