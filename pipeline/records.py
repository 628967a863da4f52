"""Media records: the processing state of each upload, with change notifications.

Every write is a compare-and-set on ``MediaRecord.version`` and notifies watchers of the
upload, so ``GET /media/{id}/events`` pushes changes without polling.

``FileMediaRecords`` (embedded default): rows of ``media_records`` in ``data_dir/tusd.sqlite3``
(``localdb.py``), each compare-and-set one ``BEGIN IMMEDIATE`` transaction (safe across
processes on one host, e.g. ``tusd-py keys rotate`` beside the server; a killed writer's
transaction rolls back). No file per record: a failed upload costs no inode at all. Watchers
are notified in-process.

``RedisMediaRecords``, Redis keys:

``media:record:<id>``
    Hash ``v`` (version) and ``doc`` (the record JSON), changed only by a Lua compare-and-set.
``media:events:<id>``
    Pub/sub channel; the same script publishes every new record JSON on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from .contract import MediaRecord
from .errors import StorageUnavailable
from .localdb import LocalDB

log = structlog.get_logger("pipeline.records")
RECORD_PREFIX = "media:record:"
EVENTS_PREFIX = "media:events:"
PUBSUB_WAIT = 10.0  # seconds one read of a subscription waits before it looks again

Change = Callable[["MediaRecord | None"], "MediaRecord | None"]


class MediaRecords(Protocol):
    async def get(self, upload_id: str) -> MediaRecord | None: ...

    async def compare_and_set(self, record: MediaRecord, expected_version: int) -> MediaRecord | None:
        """Store ``record`` if the stored version is still ``expected_version`` (0 = absent).
        Return the stored record (version bumped), or None if someone else wrote first."""

    async def put(self, record: MediaRecord) -> MediaRecord:
        """Unconditional write (tests, repairs)."""

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        """Subscribe first, then read: every record written after entry is yielded."""

    def list_ids(self) -> AsyncIterator[str]:
        """Every upload id with a record (``tusd-py keys`` walks them); order unspecified."""


class Broadcaster:
    """In-process fan-out of new records to the watchers of one upload."""

    def __init__(self) -> None:
        self.queues: defaultdict[str, set[asyncio.Queue[MediaRecord]]] = defaultdict(set)

    def publish(self, record: MediaRecord) -> None:
        for queue in self.queues.get(record.upload_id, ()):
            queue.put_nowait(record)

    @asynccontextmanager
    async def watch(self, upload_id: str) -> AsyncIterator[AsyncIterator[MediaRecord]]:
        queue: asyncio.Queue[MediaRecord] = asyncio.Queue()
        self.queues[upload_id].add(queue)

        async def records() -> AsyncIterator[MediaRecord]:
            while True:
                yield await queue.get()

        try:
            yield records()
        finally:
            self.queues[upload_id].discard(queue)
            if not self.queues[upload_id]:
                del self.queues[upload_id]


_SCHEMA = """CREATE TABLE IF NOT EXISTS media_records
    (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID;"""


class FileMediaRecords:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.broadcaster = Broadcaster()
        self._db: LocalDB | None = None

    @property
    def db(self) -> LocalDB:
        """Opened at first use: a read-only caller (a vault in tests) needs no database."""
        if self._db is None:
            self._db = LocalDB(self.data_dir, _SCHEMA)
        return self._db

    async def ready(self) -> None:
        """Readiness (the server's /readyz): the database answers ``SELECT 1``."""
        await self.db.ready()

    @staticmethod
    def _check(upload_id: str) -> None:
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError(f"bad upload id {upload_id!r}")

    def _swap(self, record: MediaRecord, expected: int | None) -> MediaRecord | None:
        self._check(record.upload_id)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT version FROM media_records WHERE id = ?", (record.upload_id,)).fetchone()
            version = int(row[0]) if row else 0
            if expected is not None and version != expected:
                return None
            stored = record.model_copy(update={"version": version + 1})
            values = (record.upload_id, version + 1, stored.to_json())
            conn.execute("INSERT OR REPLACE INTO media_records VALUES (?, ?, ?)", values)
        return stored

    async def get(self, upload_id: str) -> MediaRecord | None:
        self._check(upload_id)
        row = self.db.one("SELECT doc FROM media_records WHERE id = ?", (upload_id,))
        return MediaRecord.from_json(str(row[0])) if row else None

    async def compare_and_set(self, record: MediaRecord, expected_version: int) -> MediaRecord | None:
        stored = self._swap(record, expected_version)  # one short transaction: inline, no thread hop
        if stored is not None:
            self.broadcaster.publish(stored)
        return stored

    async def put(self, record: MediaRecord) -> MediaRecord:
        stored = self._swap(record, None)
        assert stored is not None
        self.broadcaster.publish(stored)
        return stored

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        return self.broadcaster.watch(upload_id)

    async def list_ids(self) -> AsyncIterator[str]:
        for (upload_id,) in self.db.all("SELECT id FROM media_records ORDER BY id"):
            yield str(upload_id)


# KEYS: record hash, events channel. ARGV: expected version (-1 = any), record JSON without version.
_CAS = """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[1]) >= 0 and v ~= tonumber(ARGV[1]) then return 0 end
local doc = string.gsub(ARGV[2], '"version":%-?%d+', '"version":' .. (v + 1), 1)
redis.call('HSET', KEYS[1], 'v', v + 1, 'doc', doc)
redis.call('PUBLISH', KEYS[2], doc)
return v + 1
"""


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    """Redis unreachable or silent (``ConnectionError``, ``TimeoutError``, a server still loading)
    is the pipeline's ``StorageUnavailable``: transient, a 503 for the server, a retry for a job."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StorageUnavailable(f"the media records (Redis) are unavailable: {exc}") from exc


class RedisMediaRecords:
    def __init__(self, redis: Any) -> None:
        self.redis = redis  # a redis.asyncio.Redis (arq's ArqRedis is one)
        self._script = redis.register_script(_CAS)

    async def ready(self) -> None:
        """Readiness (the server's /readyz): Redis answers a PING."""
        with _redis_errors():
            await self.redis.ping()

    async def get(self, upload_id: str) -> MediaRecord | None:
        with _redis_errors():
            doc = await self.redis.hget(RECORD_PREFIX + upload_id, "doc")
        return MediaRecord.from_json(doc) if doc else None

    async def _swap(self, record: MediaRecord, expected: int) -> MediaRecord | None:
        keys = [RECORD_PREFIX + record.upload_id, EVENTS_PREFIX + record.upload_id]
        doc = record.model_copy(update={"version": 0}).to_json()
        with _redis_errors():
            version = int(await self._script(keys=keys, args=[expected, doc]))
        return record.model_copy(update={"version": version}) if version else None

    async def compare_and_set(self, record: MediaRecord, expected_version: int) -> MediaRecord | None:
        return await self._swap(record, expected_version)

    async def put(self, record: MediaRecord) -> MediaRecord:
        stored = await self._swap(record, -1)
        assert stored is not None
        return stored

    async def list_ids(self) -> AsyncIterator[str]:
        with _redis_errors():
            async for key in self.redis.scan_iter(match=RECORD_PREFIX + "*", count=500):
                name = key.decode() if isinstance(key, bytes) else str(key)
                yield name[len(RECORD_PREFIX) :]

    @asynccontextmanager
    async def watch(self, upload_id: str) -> AsyncIterator[AsyncIterator[MediaRecord]]:
        pubsub = self.redis.pubsub()
        try:
            with _redis_errors():
                await pubsub.subscribe(EVENTS_PREFIX + upload_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise

        async def records() -> AsyncIterator[MediaRecord]:
            # get_message with a timeout of its own, not listen(): the client's command timeout
            # (TUSD_REDIS_TIMEOUT) would end a quiet subscription.
            with _redis_errors():
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=PUBSUB_WAIT)
                    if message is not None and message.get("type") == "message":
                        yield MediaRecord.from_json(message["data"])

        try:
            yield records()
        finally:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await pubsub.unsubscribe()
            await pubsub.aclose()


async def update(records: MediaRecords, upload_id: str, change: Change, *, tries: int = 50) -> MediaRecord | None:
    """Read, change, compare-and-set until it sticks. ``change`` sees the current record (None if
    absent) and returns the new one, or None to leave it alone (then None is returned)."""
    for _ in range(tries):
        current = await records.get(upload_id)
        new = change(current)
        if new is None:
            return None
        stored = await records.compare_and_set(new, current.version if current else 0)
        if stored is not None:
            return stored
        await asyncio.sleep(0.01)
    raise RuntimeError(f"media record {upload_id} keeps changing under us")


if TYPE_CHECKING:
    _file: type[MediaRecords] = FileMediaRecords
    _redis: type[MediaRecords] = RedisMediaRecords
