"""Passwords, tokens and connection secrets.

- Passwords: scrypt with a per-user random salt, stored as ``scrypt$n$r$p$salt$hash``.
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
import time
from dataclasses import dataclass

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from caffebatch.errors import AuthenticationError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MASK = "*****"


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, with its parameters, for storage."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash made by `hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(candidate, bytes.fromhex(digest))


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
