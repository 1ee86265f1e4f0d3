"""Password hashes: scrypt at N=2**17 by default, and a weaker stored hash replaced at the
user's next successful sign-in through the real token endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from caffebatch.server import create_server
from caffebatch.service import instances
from caffebatch.service.context import open_context
from caffebatch.service.crypto import hash_password, needs_rehash, verify_password
from caffebatch.settings import Settings
from caffebatch.store.tables import User


def test_the_default_cost_is_owasps_minimum_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAFFEBATCH_PASSWORD_SCRYPT_N")  # the suite's cheaper cost
    assert Settings().password_scrypt_n == 2**17
    stored = hash_password("hunter2")  # 128 MiB: above hashlib's default memory cap
    assert stored.startswith("scrypt$131072$8$1$")
    assert verify_password("hunter2", stored) and not verify_password("hunter3", stored)
    assert not needs_rehash(stored) and needs_rehash(hash_password("hunter2", 2**14))


@pytest.mark.parametrize("cost", [1000, 2**13, 3 * 2**14])
def test_a_cost_that_is_no_power_of_two_or_below_2_14_is_refused(cost: int) -> None:
    with pytest.raises(ValidationError, match="power of two of at least 2\\*\\*14"):
        Settings(password_scrypt_n=cost)


def stored_hash(ctx, username: str) -> str:  # type: ignore[no-untyped-def]
    with ctx.db.session() as session:
        return session.scalar(select(User.password_hash).where(User.username == username))


def test_a_weaker_stored_hash_is_rehashed_at_the_next_sign_in(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", secret_key="s", password_scrypt_n=2**17)
    ctx = open_context(settings)
    with ctx.db.session() as session:
        instance = instances.create_instance(session, "research", "standard")
        instances.create_user(session, instance.id, "ana", "ana-password", scrypt_n=2**14)
    old = stored_hash(ctx, "ana")
    assert old.startswith("scrypt$16384$")
    with TestClient(create_server(settings, context=ctx, run_workers=False)) as client:
        wrong = client.get("/v3/identity/token", auth=("ana", "not-it"))
        assert wrong.status_code == 401
        assert stored_hash(ctx, "ana") == old  # a failed sign-in changes nothing

        first = client.get("/v3/identity/token", auth=("ana", "ana-password"))
        assert first.status_code == 200, first.text
        new = stored_hash(ctx, "ana")
        assert new.startswith("scrypt$131072$8$1$") and verify_password("ana-password", new)

        again = client.get("/v3/identity/token", auth=("ana", "ana-password"))
        assert again.status_code == 200
        assert stored_hash(ctx, "ana") == new  # at the settings' cost: left as it is
    ctx.db.dispose()
