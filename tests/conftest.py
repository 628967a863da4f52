"""Shared fixtures. Fixtures that start real services live in tests/fixtures/*, one module each."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.redis_server",
    "tests.fixtures.moto_server",
]
