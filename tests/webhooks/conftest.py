"""The outbox's database, on SQLite and on the private PostgreSQL (tests/fixtures/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tusd_py.db.engine import Database, create_engine, resolve_url
from tusd_py.db.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of each kind."""
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    database = Database(create_engine(resolve_url(url, str(tmp_path))))
    await upgrade(database)
    try:
        yield database
    finally:
        await database.close()
