"""Small records in one SQLite file in WAL mode (the embedded default: upload infos, media records).

Why SQLite and not a JSON file per record: on ext4 every new inode costs far more than the
bytes written into it (and more again while recently deleted inodes are skipped), and a
finished upload would need four to six of them. A row in a WAL database is an append to
the log, atomic and crash-safe, and readers never see a half-written record.

``synchronous=NORMAL`` in WAL mode: a committed transaction survives a crash of the process
(``kill -9``) at once; after a power cut the last few may be lost, as unflushed data files
would be too. Calls are synchronous and short (docs/benchmarks.md): made inline on the
event loop, like the other small file-system calls of the stores.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILENAME = "tusd.sqlite3"
_BUSY_TIMEOUT = 10.0  # seconds: another process (a worker on the same data directory) holds the write lock


class LocalDB:
    """One connection, shared by the coroutines (and the odd thread) of one process."""

    def __init__(self, data_dir: str | os.PathLike[str], schema: str) -> None:
        self.path = Path(data_dir) / FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()  # one statement or transaction at a time on this connection
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(schema)

    def one(self, sql: str, args: tuple[object, ...] = ()) -> tuple[object, ...] | None:
        with self._lock:
            row: tuple[object, ...] | None = self._conn.execute(sql, args).fetchone()
            return row

    def all(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    def run(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock is taken up front, so a read-then-write inside is atomic
        across processes too."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    async def ready(self) -> None:
        """Readiness: ``SELECT 1`` in a thread (the connection's lock may be held by a transaction)."""
        await asyncio.to_thread(self.one, "SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
