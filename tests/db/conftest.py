"""The database under test, on SQLite and on the private PostgreSQL (tests/fixtures/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tusd_py.db.engine import Database, create_engine, resolve_url
from tusd_py.db.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A setting value (TUSD_DATABASE_URL) of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'app.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def empty_database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(create_engine(resolve_url(database_url, str(tmp_path))))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def database(empty_database: Database) -> Database:
    """The same, migrated to the newest schema."""
    await upgrade(empty_database)
    return empty_database
