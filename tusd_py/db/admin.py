"""``tusd-py db``: the database's operator commands, and the opening every other command shares.

``upgrade``         apply pending migrations (the server does it at start unless
                    ``TUSD_DATABASE_MIGRATE=false``; then run this before starting new code).
``current``         the database's revision and the code's newest.
``import-records``  copy the media records of a server from before the SQL database (Redis with
                    ``TUSD_REDIS_URL``, else the embedded ``tusd.sqlite3``) into it; rerunnable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pipeline.records import FileMediaRecords, MediaRecords, RedisMediaRecords

from ..settings import Settings
from .engine import Database
from .migrate import current, head, upgrade
from .records import SqlMediaRecords, import_records

COMMANDS = ("upgrade", "current", "import-records")


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Database]:
    """The configured database, migrated first when the settings say so (as the server does)."""
    database = Database.from_settings(settings.database, settings.storage.data_dir)
    try:
        if settings.database.database_migrate:
            await upgrade(database)
        yield database
    finally:
        await database.close()


@asynccontextmanager
async def _legacy_records(settings: Settings) -> AsyncIterator[MediaRecords]:
    if not settings.redis.redis_url:
        yield FileMediaRecords(settings.storage.data_dir)
        return
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis.redis_url)
    try:
        yield RedisMediaRecords(redis)
    finally:
        await redis.aclose()


async def run(settings: Settings, command: str) -> list[str]:
    """One command's output lines; the driver's errors (unreachable database) propagate."""
    database = Database.from_settings(settings.database, settings.storage.data_dir)
    try:
        if command == "upgrade":
            revision = await upgrade(database)
            return [f"{database.url}: at revision {revision} (newest {head()})"]
        if command == "current":
            revision = await current(database) or "none (empty: run tusd-py db upgrade)"
            return [f"{database.url}: at revision {revision} (newest {head()})"]
        if command == "import-records":
            await upgrade(database)
            async with _legacy_records(settings) as source:
                copied, kept = await import_records(source, SqlMediaRecords(database))
            return [f"copied {copied} media records into {database.url}; {kept} were there already"]
        raise ValueError(f"unknown command {command!r}")
    finally:
        await database.close()
