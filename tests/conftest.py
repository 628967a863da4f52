"""Shared fixtures. Fixtures that start real services live in tests/fixtures/*, one module each."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.redis_server",
    "tests.fixtures.moto_server",
    "tests.fixtures.postgres",
]

# The default TUSD_DISK_RESERVE (1 GiB) would refuse every upload on a CI disk with less free than
# that; the suite's servers (in-process and subprocesses) keep a small reserve instead, so the check
# still runs on every write. The tests of the reserve itself set their own.
os.environ.setdefault("TUSD_DISK_RESERVE", str(16 * 1024 * 1024))
# Tests of the protocol, stores and pipeline run against an open server; the tests of identity and
# ownership (tests/auth, the conformance suite's authenticated run, the isolation walk) set
# TUSD_AUTH=local (or auth="local") themselves.
os.environ.setdefault("TUSD_AUTH", "none")
# A developer's own database must never receive the suite's rows: servers and workers of the tests use
# the SQLite file of their data dir, or the private PostgreSQL cluster (tests/fixtures/postgres.py).
os.environ.pop("TUSD_DATABASE_URL", None)


@pytest.fixture(autouse=True)
def _suite_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """``configure_logging`` sets process-wide structlog state and caches each logger on its first
    use: a CLI command run in-process (``tests/direct/test_cors_cli.py``) would leave every later
    test's ``capture_logs()`` empty. In-process commands keep the suite's logging as it is;
    ``tests/test_log.py`` checks ``configure_logging`` itself, each case in its own interpreter."""
    monkeypatch.setattr("tusd_py.log.configure_logging", lambda fmt="console", level="info": None)
