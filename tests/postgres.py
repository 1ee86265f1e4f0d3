"""A throwaway PostgreSQL cluster for the tests, and one fresh database per test.

    with PostgresCluster() as cluster:
        url = cluster.create_database("t1")  # postgresql+psycopg://caffebatch:...@HOST:PORT/t1

The cluster lives in a temp folder, listens on 127.0.0.1 on a free port (its Unix socket in
the same folder), and runs with fsync off: its data is thrown away. The server refuses to
run as root, so as root (CI) every server command runs as the OS user `postgres`.

Fixtures (made visible to every test folder by tests/conftest.py): `postgres`, the session's
cluster, started on first use; `postgres_url`, a new empty database for one test, dropped
after it. `database_url(request, backend, tmp_path)` picks SQLite or PostgreSQL for a
fixture parametrized over `BACKENDS`.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

from tests.s3server import free_port

BACKENDS = ("sqlite", "postgresql")
USER = "caffebatch"
SERVER_USER = "postgres"  # the OS user that runs the server when the tests run as root
# throwaway data: durability off; room for every test's pools at once
SERVER_OPTIONS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are needed for the PostgreSQL "
    "tests: apt-get install postgresql (or put their folder on PATH)"
)


def server_binaries() -> Path:
    """The folder with initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if not candidates:
        raise RuntimeError(INSTALL_HINT)
    return Path(candidates[-1]).parent


class PostgresCluster:
    """initdb + pg_ctl in a temp folder; a context manager that stops it and removes the folder."""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.root = Path(tempfile.mkdtemp(prefix="caffebatch-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_server_user = os.geteuid() == 0
        self._started = False

    def _server_command(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_server_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}\n{log}"
            )

    def start(self) -> PostgresCluster:
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if self._as_server_user:
            shutil.chown(self.root, SERVER_USER)
            shutil.chown(password_file, SERVER_USER)
        self._server_command(
            "initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(password_file),
            "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        options = " ".join(f"-c {key}={value}" for key, value in SERVER_OPTIONS.items())
        listen = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        self._server_command(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", f"{listen} {options}", "start",
        )  # fmt: skip
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server (fast: sessions are cut) and remove its folder."""
        try:
            if self._started:
                self._server_command("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
                self._started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database, in the form docs/service.md gives."""
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=self.password,
            dbname="postgres", autocommit=True,
        ) as connection:  # fmt: skip
            connection.execute(sql)

    def create_database(self, name: str) -> str:
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        # FORCE ends sessions a test left open (a pool not yet disposed)
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster; fails (does not skip) when the server is not installed."""
    try:
        cluster = PostgresCluster()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    with cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> Iterator[str]:
    """A new, empty database for this test; dropped after it."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh database of `backend` for one test: a SQLite file in tmp_path, or PostgreSQL."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'store.db'}"
