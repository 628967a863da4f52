"""Schema migrations (Alembic, packaged in ``tusd_py/db/migrations``), run on the server's engine.

``upgrade`` applies what is pending, at start (``TUSD_DATABASE_MIGRATE``) or by ``tusd-py db
upgrade``; ``current`` says which revision the database is at. Alembic is synchronous: it runs
on the sync facade of one async connection (``run_sync``), in one transaction. On PostgreSQL
that transaction first takes an advisory lock, so N instances starting together migrate once
and the others wait and find nothing to do; SQLite's write lock, taken first, does the same for a file.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from .engine import Database

log = structlog.get_logger("tusd_py.db")

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x74757364  # "tusd": the advisory lock every migrating process takes on PostgreSQL


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None  # there is always at least the initial revision
    return revision


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> tuple[str | None, str | None]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    before = _revision(connection)
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return before, _revision(connection)


async def upgrade(database: Database) -> str | None:
    """Apply every pending migration; return the revision the database is now at."""
    async with database.writing() as conn:
        before, after = await conn.run_sync(_upgrade)
    if before != after:
        log.info("database_migrated", url=database.url, revision_from=before, revision=after)
    return after


async def current(database: Database) -> str | None:
    """The database's revision (None: no schema yet)."""
    async with database.engine.connect() as conn:
        return await conn.run_sync(_revision)
