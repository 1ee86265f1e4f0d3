"""Fixtures shared by every test folder: the session's PostgreSQL cluster (tests/postgres.py),
and the password cost of the suite."""

import os

from tests.postgres import postgres, postgres_url  # noqa: F401 (fixtures)

# Passwords hash at scrypt N=2**14 in the suite (the lowest cost the settings allow), not the
# default 2**17: that costs 1.5 s a sign-in here, and the suite signs in hundreds of times.
# Servers the tests start inherit it. tests/service/test_passwords.py checks the default.
os.environ.setdefault("CAFFEBATCH_PASSWORD_SCRYPT_N", str(2**14))
