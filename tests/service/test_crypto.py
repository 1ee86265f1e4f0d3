"""Passwords, tokens and secrets (caffebatch.service.crypto)."""

from __future__ import annotations

import time

import pytest

from caffebatch.errors import AuthenticationError
from caffebatch.service.crypto import Keys, hash_password, verify_password


def test_password_hashes_are_salted_and_verify() -> None:
    first, second = hash_password("hunter2"), hash_password("hunter2")
    assert first != second and "hunter2" not in first
    assert verify_password("hunter2", first) and verify_password("hunter2", second)
    assert not verify_password("hunter3", first)
    assert not verify_password("hunter2", "garbage")


def test_tokens_carry_user_and_instance() -> None:
    keys = Keys(b"secret", token_lifetime_s=60)
    claims = keys.read_token(keys.issue_token("user-1", "instance-1"))
    assert (claims.user_id, claims.instance_id) == ("user-1", "instance-1")
    assert claims.expires_at > time.time()


def test_expired_forged_and_malformed_tokens_are_refused() -> None:
    keys = Keys(b"secret", token_lifetime_s=60)
    expired = keys.issue_token("u", "i", now=time.time() - 3600)
    with pytest.raises(AuthenticationError, match="expired"):
        keys.read_token(expired)
    forged = Keys(b"another secret", 60).issue_token("u", "i")
    with pytest.raises(AuthenticationError, match="not valid"):
        keys.read_token(forged)
    with pytest.raises(AuthenticationError):
        keys.read_token("not.a.token")


def test_secrets_round_trip_and_are_not_stored_in_clear() -> None:
    keys = Keys(b"secret", 60)
    blob = keys.encrypt({"secret_key": "s3cr3t-value"})
    assert b"s3cr3t-value" not in blob
    assert keys.decrypt(blob) == {"secret_key": "s3cr3t-value"}
    with pytest.raises(AuthenticationError, match="secret changed"):
        Keys(b"other", 60).decrypt(blob)
