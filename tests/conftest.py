"""Fixtures shared by every test folder: the session's PostgreSQL cluster (tests/postgres.py)."""

from tests.postgres import postgres, postgres_url  # noqa: F401 (fixtures)
