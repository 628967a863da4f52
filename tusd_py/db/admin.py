"""``tusd-py db``: the database's operator commands, and the opening every other command shares.

``upgrade``         apply pending migrations (the server does it at start unless
                    ``TUSD_DATABASE_MIGRATE=false``; then run this before starting new code).
``current``         the database's revision and the code's newest.
``import-records``  copy the media records of a server from before the SQL database (Redis with
                    ``TUSD_REDIS_URL``, else the embedded ``tusd.sqlite3``) into it; rerunnable.

A server does the same by itself at start while its database has no media record at all
(``adopt_legacy_records``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

from pipeline.errors import StorageUnavailable
from pipeline.localdb import FILENAME as LEGACY_FILE
from pipeline.records import FileMediaRecords, MediaRecords, RedisMediaRecords

from ..settings import Settings
from .engine import Database
from .migrate import current, head, upgrade
from .records import SqlMediaRecords, import_records

log = structlog.get_logger("tusd_py.db")
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


def warn_if_not_shared(database: Database, store: str) -> bool:
    """S3 means several instances and workers on several machines: each with a SQLite file of its
    own would see its own users and records. Said once at start (the tests' and a single machine's
    S3 setups stay allowed). True if the warning was given."""
    if store != "s3" or database.dialect != "sqlite":
        return False
    log.warning(
        "database_not_shared",
        url=database.url,
        detail="TUSD_STORE=s3 with a SQLite database: every server and worker must share one database; "
        "set TUSD_DATABASE_URL=postgresql://... (docs/operations.md)",
    )
    return True


async def adopt_legacy_records(database: Database, data_dir: str, redis: Any | None) -> int:
    """At start: a database with no media record yet, beside a server from before it (records in
    Redis, or in the embedded ``tusd.sqlite3``), takes those records over once, so an upgrade
    loses no asset even if ``tusd-py db import-records`` was forgotten. Returns how many."""
    records = SqlMediaRecords(database)
    if redis is not None:
        source: MediaRecords = RedisMediaRecords(redis)
    elif (Path(data_dir) / LEGACY_FILE).is_file():
        source = FileMediaRecords(data_dir)
    else:
        return 0
    try:
        async for _ in records.list_ids():
            return 0  # already in use: the records live here
        copied, _ = await import_records(source, records)
    except StorageUnavailable as exc:  # Redis or the database down: the server starts all the same (503s)
        log.warning("media_records_not_adopted", error=str(exc)[:200], fix="tusd-py db import-records")
        return 0
    if copied:
        log.info("media_records_adopted", copied=copied, source="redis" if redis is not None else LEGACY_FILE)
    return copied


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
