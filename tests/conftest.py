"""Shared fixtures. Fixtures that start real services live in tests/fixtures/*, one module each."""

from __future__ import annotations

import os

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
