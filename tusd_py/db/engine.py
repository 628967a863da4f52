"""The engine: one SQLAlchemy async engine per process, on SQLite (aiosqlite) or PostgreSQL (asyncpg).

``resolve_url`` turns the setting into a driver URL: empty means the embedded default, a SQLite
file ``app.sqlite3`` in ``TUSD_DATA_DIR``; ``postgres://`` and ``postgresql://`` are driven by
asyncpg, ``sqlite://`` by aiosqlite. The engine connects lazily, so ``create_app`` builds it
synchronously and the first query (the migrations at start, or a request) opens a connection.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so a writer in another process
(``tusd-py keys rotate``, ``tusd-py users``) waits for the lock instead of failing at once.
PostgreSQL connections come from a pool of ``TUSD_DATABASE_POOL_SIZE``, checked before use
(``pool_pre_ping``), so a restarted database costs one failed ping, not a failed request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from .settings import DatabaseSettings

log = structlog.get_logger("tusd_py.db")

FILENAME = "app.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 5000  # a writer in another process holds the lock for milliseconds, not seconds
_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}

# What an unreachable, restarting or locked database raises: transient, a 503 for a request.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
    OSError,
    TimeoutError,
)


class DatabaseUnavailable(Exception):
    """The database did not answer (the repositories raise their layer's own error from it)."""


@contextlib.contextmanager
def unavailable_as(error: type[Exception], what: str) -> Iterator[None]:
    """Translate the driver's transient errors into ``error`` (the caller's layer) at the call."""
    try:
        yield
    except UNAVAILABLE as problem:
        raise error(f"{what} (the database) is unavailable: {type(problem).__name__}: {problem}"[:500]) from problem


def resolve_url(database_url: str, data_dir: str) -> str:
    """The driver URL for the setting (see the module docstring)."""
    if not database_url:
        return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / FILENAME}"
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in _DRIVERS:
        raise ValueError(f"unsupported database URL scheme {scheme!r}")
    return f"{_DRIVERS[scheme]}://{rest}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is deferred: a transaction that read first and then writes
    # fails at once with "database is locked" when another connection wrote meanwhile, busy
    # timeout or not. The driver emits no BEGIN; ``_sqlite_begin`` emits an immediate one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # a commit survives a killed process (WAL)
        cursor.execute("PRAGMA foreign_keys=ON")  # sessions go with their user
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_begin(conn: Any) -> None:
    """Every transaction takes SQLite's write lock up front, so writers queue on the busy timeout
    instead of failing; transactions are a few statements long, and WAL readers of other
    processes are never blocked by it."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine for a driver URL (``resolve_url``); nothing is connected yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict[str, Any] = {}
        database = parsed.database or ""
        if database in ("", ":memory:"):
            options["poolclass"] = StaticPool  # one shared connection, or every query sees a new empty database
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # A fixed set of connections (each is a thread in aiosqlite): overflow connections
            # would be opened and closed again under every burst.
            options.update(pool_size=pool_size, max_overflow=0)
        engine = create_async_engine(parsed, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if "sslmode" in parsed.query:  # libpq's spelling, as providers hand URLs out; asyncpg calls it ssl
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": parsed.query["sslmode"]})
    return create_async_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """The engine and what the server asks of the database as a whole (readiness, shutdown)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def from_settings(cls, settings: DatabaseSettings, data_dir: str) -> Database:
        url = resolve_url(settings.database_url, data_dir)
        return cls(create_engine(url, pool_size=settings.database_pool_size))

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: the few statements that differ (upserts) pick by it."""
        return str(self.engine.dialect.name)

    @property
    def url(self) -> str:
        """The URL without its password, for logs and ``tusd-py db current``."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that reads, then writes. On SQLite it takes the write lock first (``BEGIN
        IMMEDIATE``): a deferred one that read a snapshot cannot wait for another writer, it fails
        at once with "database is locked"; this one waits (busy timeout) like any writer."""
        async with self.engine.begin() as conn:  # on SQLite, BEGIN IMMEDIATE (``_sqlite_begin``)
            yield conn

    async def ready(self) -> None:
        """Readiness (the server's /readyz): the database answers ``SELECT 1``."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
