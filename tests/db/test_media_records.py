"""SqlMediaRecords: the media records' contract suite (tests/pipeline/test_records.py) on SQLite
and PostgreSQL, with in-process and Redis notifications; then what only SQL records promise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from pipeline.contract import MediaRecord, MediaState
from pipeline.errors import StorageUnavailable
from pipeline.records import MediaRecords, RedisMediaRecords
from tests.pipeline.test_records import (  # the shared contract, collected here against SQL
    test_compare_and_set_bumps_the_version_and_refuses_stale_writers,
    test_concurrent_updates_are_never_lost,
    test_missing_record_is_none,
    test_put_overwrites_whatever_is_there,
    test_update_leaves_the_record_alone_when_told,
    test_watchers_see_every_later_write_in_order,
)
from tusd_py.db import records as sql_records
from tusd_py.db.catalogue import SqlCatalogue
from tusd_py.db.engine import Database, create_engine, resolve_url
from tusd_py.db.records import LocalNotifier, Notifier, RedisNotifier, SqlMediaRecords
from tusd_py.protocol.info import UploadInfo

__all__ = [
    "test_compare_and_set_bumps_the_version_and_refuses_stale_writers",
    "test_concurrent_updates_are_never_lost",
    "test_missing_record_is_none",
    "test_put_overwrites_whatever_is_there",
    "test_update_leaves_the_record_alone_when_told",
    "test_watchers_see_every_later_write_in_order",
]


@pytest.fixture(params=["local", "redis"])
async def notifier(request: pytest.FixtureRequest) -> AsyncIterator[Notifier]:
    if request.param == "local":
        yield LocalNotifier()
        return
    client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisNotifier(client)
    finally:
        await client.aclose()


@pytest.fixture
def records(database: Database, notifier: Notifier) -> MediaRecords:
    return SqlMediaRecords(database, notifier)


async def test_racing_writers_with_the_same_version_have_exactly_one_winner(
    database_url: str, tmp_path: object
) -> None:
    """Eight processes' worth of engines (separate pools), one expected version: one write sticks."""
    url = resolve_url(database_url, str(tmp_path))
    first = Database(create_engine(url))
    from tusd_py.db.migrate import upgrade

    await upgrade(first)
    others = [Database(create_engine(url)) for _ in range(7)]
    try:
        writers = [SqlMediaRecords(d) for d in [first, *others]]
        base = await writers[0].put(MediaRecord(upload_id="u1"))
        results = await asyncio.gather(
            *(w.compare_and_set(base.evolve(progress=float(i)), base.version) for i, w in enumerate(writers))
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and winners[0].version == 2
        stored = await writers[3].get("u1")
        assert stored == winners[0]
        fresh = await asyncio.gather(*(w.compare_and_set(MediaRecord(upload_id="new"), 0) for w in writers))
        assert sum(r is not None for r in fresh) == 1  # creation races the same way
    finally:
        for d in [first, *others]:
            await d.close()


async def test_a_watcher_on_another_process_sees_the_write_through_redis(database: Database, redis_url: str) -> None:
    """A worker's write reaches a server's SSE stream: two record stores, one database, one Redis
    channel, the same payload RedisMediaRecords subscribers read."""
    server_redis, worker_redis = redis.asyncio.Redis.from_url(redis_url), redis.asyncio.Redis.from_url(redis_url)
    try:
        server = SqlMediaRecords(database, RedisNotifier(server_redis))
        worker = SqlMediaRecords(database, RedisNotifier(worker_redis))
        async with server.watch("u1") as changes, RedisMediaRecords(server_redis).watch("u1") as plain:
            await worker.put(MediaRecord(upload_id="u1", state=MediaState.PROCESSING, progress=30))
            seen = await asyncio.wait_for(anext(changes), 5)
            also = await asyncio.wait_for(anext(plain), 5)
        assert seen == also == await server.get("u1")
        assert seen.version == 1 and seen.progress == 30
    finally:
        await server_redis.aclose()
        await worker_redis.aclose()


async def test_a_write_stands_when_redis_is_gone(database: Database) -> None:
    dead = redis.asyncio.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    try:
        records = SqlMediaRecords(database, RedisNotifier(dead))
        stored = await records.put(MediaRecord(upload_id="u1", data_key={"kek_id": "k1"}))
        assert await records.get("u1") == stored
    finally:
        await dead.aclose()


async def test_the_record_row_takes_its_owner_from_the_catalogue(database: Database) -> None:
    await SqlCatalogue(database).created(UploadInfo(id="u1", size=5, owner="alice", created_at=1.0))
    records = SqlMediaRecords(database)
    await records.put(MediaRecord(upload_id="u1"))
    await records.put(MediaRecord(upload_id="orphan"))  # created before the catalogue knew it
    async with database.engine.connect() as conn:
        rows = dict((await conn.exec_driver_sql("SELECT upload_id, owner FROM media_records")).all())
    assert rows == {"u1": "alice", "orphan": ""}


async def test_list_ids_walks_every_record_across_pages(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_records, "_LIST_BATCH", 2)
    records = SqlMediaRecords(database)
    ids = [f"id{i}" for i in range(5)]
    for upload_id in reversed(ids):
        await records.put(MediaRecord(upload_id=upload_id))
    assert [i async for i in records.list_ids()] == ids


async def test_a_record_survives_a_new_engine(database_url: str, tmp_path: object) -> None:
    """What a restart (or a lost Redis) leaves: the row, the wrapped key, the version."""
    url = resolve_url(database_url, str(tmp_path))
    first = Database(create_engine(url))
    from tusd_py.db.migrate import upgrade

    await upgrade(first)
    await SqlMediaRecords(first).put(MediaRecord(upload_id="u1", state=MediaState.READY, data_key={"w": "x"}))
    await first.close()
    again = Database(create_engine(url))
    try:
        stored = await SqlMediaRecords(again).get("u1")
        assert stored is not None and stored.state is MediaState.READY and stored.data_key == {"w": "x"}
        assert stored.version == 1
    finally:
        await again.close()


async def test_an_unreachable_database_is_the_pipelines_storage_unavailable() -> None:
    database = Database(create_engine(resolve_url("postgresql://x@127.0.0.1:9/none", ".")))
    records = SqlMediaRecords(database)
    try:
        with pytest.raises(StorageUnavailable):
            await records.get("u1")
        with pytest.raises(StorageUnavailable):
            await records.compare_and_set(MediaRecord(upload_id="u1"), 0)
        with pytest.raises(StorageUnavailable):
            await records.ready()
    finally:
        await database.close()
