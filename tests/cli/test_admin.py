"""`caffebatch admin`: instances and users made from the command line can log in."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from caffebatch.cli import main
from caffebatch.server import create_server
from caffebatch.settings import Settings


def test_admin_creates_instances_and_users_that_can_log_in(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CAFFEBATCH_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    created = runner.invoke(main, ["admin", "create-instance", "--name", "research"])
    assert created.exit_code == 0, created.output
    instance_id = created.output.strip()
    user = runner.invoke(
        main,
        [
            "admin",
            "create-user",
            "--instance",
            instance_id,
            "--username",
            "ana",
            "--password",
            "ana-password",
        ],
    )
    assert user.exit_code == 0, user.output
    again = runner.invoke(
        main,
        ["admin", "create-user", "--instance", instance_id, "--username", "ana", "--password", "x"],
    )
    assert again.exit_code != 0 and "already exists" in again.output
    listed = runner.invoke(main, ["admin", "list-instances"])
    assert instance_id in listed.output and "research" in listed.output

    with TestClient(create_server(Settings(), run_workers=False)) as client:
        token = client.get("/v3/identity/token", auth=("ana", "ana-password")).json()
        assert token["instance_id"] == instance_id
        details = client.get(
            f"/v3/wml_instances/{instance_id}",
            headers={"Authorization": f"Bearer {token['token']}"},
        )
        assert details.status_code == 200
    # a stored secret key was generated once, private to the owner
    assert (tmp_path / "home" / "secret.key").stat().st_mode & 0o077 == 0
