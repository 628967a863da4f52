"""Migrations: an empty database is upgraded to exactly the schema of tables.py, idempotently."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tusd_py.db.engine import Database, resolve_url
from tusd_py.db.migrate import current, head, upgrade
from tusd_py.db.settings import DatabaseSettings
from tusd_py.db.tables import metadata


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_from_empty_creates_exactly_the_declared_schema(empty_database: Database) -> None:
    assert await current(empty_database) is None
    assert await upgrade(empty_database) == head()
    assert await current(empty_database) == head()
    async with empty_database.engine.connect() as conn:
        assert await conn.run_sync(_tables) == set(metadata.tables) | {"alembic_version"}
        assert await conn.run_sync(_diff) == []  # the migrations and tables.py say the same


async def test_upgrade_twice_changes_nothing(empty_database: Database) -> None:
    await upgrade(empty_database)
    assert await upgrade(empty_database) == head()
    assert await current(empty_database) == head()


async def test_concurrent_upgrades_migrate_once(database_url: str, tmp_path: Any) -> None:
    """N instances starting together: every one ends at head, none fails on a table that exists."""
    import asyncio

    from tusd_py.db.engine import create_engine

    url = resolve_url(database_url, str(tmp_path))
    databases = [Database(create_engine(url)) for _ in range(4)]
    try:
        assert await asyncio.gather(*(upgrade(d) for d in databases)) == [head()] * 4
    finally:
        for d in databases:
            await d.close()


async def test_ready_answers_on_a_live_database(database: Database) -> None:
    await database.ready()


async def test_ready_raises_when_the_database_is_unreachable(tmp_path: Any) -> None:
    from tusd_py.db.engine import create_engine

    port_without_server = 9  # discard: nothing listens there
    database = Database(create_engine(resolve_url(f"postgresql://x@127.0.0.1:{port_without_server}/none", ".")))
    try:
        with pytest.raises(OSError):
            await database.ready()
    finally:
        await database.close()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("", "sqlite+aiosqlite:////data/app.sqlite3"),
        ("sqlite:///x/y.db", "sqlite+aiosqlite:///x/y.db"),
        ("postgres://u:p@h:5/d", "postgresql+asyncpg://u:p@h:5/d"),
        ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_resolve_url(setting: str, expected: str) -> None:
    assert resolve_url(setting, "/data") == expected


def test_resolve_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="mysql"):
        resolve_url("mysql://h/d", "/data")


async def test_libpq_sslmode_is_asyncpgs_ssl() -> None:
    from tusd_py.db.engine import create_engine

    engine = create_engine(resolve_url("postgresql://u@h/d?sslmode=require&application_name=tusd", "."))
    try:
        assert dict(engine.url.query) == {"ssl": "require", "application_name": "tusd"}
    finally:
        await engine.dispose()


async def test_a_url_with_sslmode_connects(postgres_url: str) -> None:
    database = Database.from_settings(DatabaseSettings(database_url=f"{postgres_url}?sslmode=disable"), ".")
    try:
        await database.ready()
    finally:
        await database.close()
