"""``SqlMediaRecords``: the pipeline's media records (``pipeline.records.MediaRecords``) in the
``media_records`` table, so an asset's record and its wrapped data key outlive Redis.

Semantics mirror ``FileMediaRecords`` and ``RedisMediaRecords`` exactly: each write is one
compare-and-set on ``version`` (0 = absent), the stored record carries its new version, and
every stored record is announced to the upload's watchers. The compare-and-set is a single
statement, so it is atomic on both databases without holding a lock across a round trip:
``INSERT ... ON CONFLICT DO NOTHING`` for a new record, ``UPDATE ... WHERE version = :expected``
for the next one. The row's ``owner`` is copied from the catalogue when the record is created.

Notifications go through a ``Notifier``: ``LocalNotifier`` (the in-process ``Broadcaster``)
where there is no Redis, ``RedisNotifier`` on the ``media:events:<id>`` channel that
``RedisMediaRecords`` uses, so the SSE stream of a server sees what a worker wrote. A
notification is sent after the commit; if Redis is down then, the record is stored all the
same and only the live stream misses that change (its next read sees it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pipeline.contract import MediaRecord
from pipeline.errors import StorageUnavailable
from pipeline.records import EVENTS_PREFIX, Broadcaster, MediaRecords, RedisMediaRecords

from .engine import Database, unavailable_as
from .tables import media_records, uploads

log = structlog.get_logger("tusd_py.db.records")
_WHAT = "the media records"
_LIST_BATCH = 500
_PUT_TRIES = 100  # each lost race means another writer stored meanwhile; endless ones are a bug


class Notifier(Protocol):
    async def publish(self, record: MediaRecord) -> None:
        """Announce a stored record to the watchers of its upload (best effort)."""

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        """Subscribe: every record published after entry is yielded."""


class LocalNotifier:
    """Watchers in this process only: the embedded default (one server, its own pipeline)."""

    def __init__(self) -> None:
        self.broadcaster = Broadcaster()

    async def publish(self, record: MediaRecord) -> None:
        self.broadcaster.publish(record)

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        return self.broadcaster.watch(upload_id)


class RedisNotifier:
    """Redis pub/sub on ``media:events:<id>``, the channel and payload ``RedisMediaRecords`` uses."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis  # a redis.asyncio.Redis
        self._subscriber = RedisMediaRecords(redis)  # its watch() is the subscription wanted here

    async def publish(self, record: MediaRecord) -> None:
        try:
            await self.redis.publish(EVENTS_PREFIX + record.upload_id, record.to_json())
        except Exception as exc:  # the record is committed; a lost notification costs a live update only
            log.warning("media_event_not_published", upload_id=record.upload_id, error=str(exc)[:200])

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        return self._subscriber.watch(upload_id)


class SqlMediaRecords:
    def __init__(self, database: Database, notifier: Notifier | None = None) -> None:
        self.database = database
        self.engine = database.engine
        self.notifier: Notifier = notifier or LocalNotifier()
        self._insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert

    async def ready(self) -> None:
        """Readiness: the database answers ``SELECT 1``."""
        with unavailable_as(StorageUnavailable, _WHAT):
            await self.database.ready()

    async def get(self, upload_id: str) -> MediaRecord | None:
        query = select(media_records.c.doc).where(media_records.c.upload_id == upload_id)
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.connect() as conn:
                doc = (await conn.execute(query)).scalar_one_or_none()
        return MediaRecord.from_json(doc) if doc is not None else None

    async def _swap(self, record: MediaRecord, expected: int) -> MediaRecord | None:
        stored = record.model_copy(update={"version": expected + 1})
        now = time.time()
        if expected == 0:
            owner = select(uploads.c.owner).where(uploads.c.id == record.upload_id).scalar_subquery()
            statement: Any = (
                self._insert(media_records)
                .values(
                    upload_id=record.upload_id,
                    owner=func.coalesce(owner, ""),
                    version=1,
                    doc=stored.to_json(),
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
        else:
            current = (media_records.c.upload_id == record.upload_id) & (media_records.c.version == expected)
            statement = (
                update(media_records).where(current).values(version=expected + 1, doc=stored.to_json(), updated_at=now)
            )
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                result = await conn.execute(statement)
        if result.rowcount != 1:
            return None
        await self.notifier.publish(stored)
        return stored

    async def compare_and_set(self, record: MediaRecord, expected_version: int) -> MediaRecord | None:
        return await self._swap(record, expected_version)

    async def put(self, record: MediaRecord) -> MediaRecord:
        """Unconditional: compare-and-set against whatever version is there until one sticks."""
        query = select(media_records.c.version).where(media_records.c.upload_id == record.upload_id)
        for _ in range(_PUT_TRIES):
            with unavailable_as(StorageUnavailable, _WHAT):
                async with self.engine.connect() as conn:
                    version = (await conn.execute(query)).scalar_one_or_none()
            stored = await self._swap(record, int(version or 0))
            if stored is not None:
                return stored
        raise RuntimeError(f"media record {record.upload_id} keeps changing under us")

    def watch(self, upload_id: str) -> AbstractAsyncContextManager[AsyncIterator[MediaRecord]]:
        return self.notifier.watch(upload_id)

    async def list_ids(self) -> AsyncIterator[str]:
        """By pages of ids: no connection is held while the caller works on each one."""
        after = ""
        while True:
            query = (
                select(media_records.c.upload_id)
                .where(media_records.c.upload_id > after)
                .order_by(media_records.c.upload_id)
                .limit(_LIST_BATCH)
            )
            with unavailable_as(StorageUnavailable, _WHAT):
                async with self.engine.connect() as conn:
                    batch = [str(upload_id) for (upload_id,) in (await conn.execute(query)).all()]
            for upload_id in batch:
                yield upload_id
            if len(batch) < _LIST_BATCH:
                return
            after = batch[-1]


async def import_records(source: MediaRecords, target: SqlMediaRecords) -> tuple[int, int]:
    """Copy every record of an older store (Redis, or the embedded ``tusd.sqlite3``) that ``target``
    lacks; a record already in SQL is newer and stays. Returns (copied, already there). Safe to
    rerun, and beside running servers: each copy is a create-only compare-and-set."""
    copied = kept = 0
    async for upload_id in source.list_ids():
        record = await source.get(upload_id)
        if record is None:
            continue
        if await target.compare_and_set(record, 0) is not None:
            copied += 1
        else:
            kept += 1
    return copied, kept


if TYPE_CHECKING:
    _records: type[MediaRecords] = SqlMediaRecords
