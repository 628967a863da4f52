"""UploadRecords: the same contract for Redis (private redis-server) and in-process records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.state import keyspace
from tusd_py.state.memory_records import MemoryUploadRecords
from tusd_py.state.records import PartRecord, RedisUploadRecords, UploadRecord, UploadRecords


@pytest.fixture(params=["redis", "memory"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[UploadRecords]:
    if request.param == "memory":
        yield MemoryUploadRecords()
        return
    client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisUploadRecords(client)
    finally:
        await client.aclose()


def record(upload_id: str = "u1", **changes: object) -> UploadRecord:
    info = UploadInfo(id=upload_id, size=100, metadata="filename aGVsbG8=", created_at=1.5, expires_at=99.25)
    rec = UploadRecord(info, multipart_id="mp-1", part_size=10)
    for key, value in changes.items():
        setattr(rec, key, value)
    return rec


P1, P2, P3 = PartRecord(1, 10, '"e1"'), PartRecord(2, 10, '"e2"'), PartRecord(3, 5, '"e3"')


async def test_put_and_get_round_trip(records: UploadRecords) -> None:
    await records.put(record(), [P1])
    got = await records.get("u1")
    assert got is not None
    assert got.info.metadata == "filename aGVsbG8=" and got.info.size == 100 and got.info.expires_at == 99.25
    assert (got.multipart_id, got.part_size, got.parts) == ("mp-1", 10, 0)
    assert await records.parts("u1") == [P1]
    assert await records.get("other") is None


async def test_commit_moves_parts_tail_and_offset_together(records: UploadRecords) -> None:
    await records.put(record(), [])
    assert await records.commit("u1", expect=0, keep=0, add=[P1, P2], tail=3, offset=23)
    got = await records.get("u1")
    assert got is not None and (got.parts, got.tail, got.info.offset, got.parts_end) == (2, 3, 23, 20)
    assert await records.parts("u1") == [P1, P2]
    # a rollback keeps the first part only
    assert await records.commit("u1", expect=2, keep=1, add=[], tail=0, offset=10)
    assert await records.parts("u1") == [P1]
    assert (await records.get("u1")).info.offset == 10  # type: ignore[union-attr]


async def test_commit_with_a_stale_view_writes_nothing(records: UploadRecords) -> None:
    await records.put(record(), [])
    await records.commit("u1", expect=0, keep=0, add=[P1], tail=0, offset=10)
    assert not await records.commit("u1", expect=0, keep=0, add=[P2], tail=0, offset=10)  # record has 1 part
    assert await records.parts("u1") == [P1]
    assert not await records.commit("missing", expect=0, keep=0, add=[P1], tail=0, offset=10)
    assert await records.get("missing") is None  # no half record was created


async def test_updates_of_a_missing_record_do_nothing(records: UploadRecords) -> None:
    assert not await records.set_size("nope", 5)
    assert not await records.set_state("nope", UploadState.COMPLETING)
    assert not await records.set_expiry("nope", None)
    assert not await records.set_discarded("nope", True)
    assert await records.get("nope") is None


async def test_updates(records: UploadRecords) -> None:
    await records.put(record(info=UploadInfo(id="u1", size=None, created_at=1.0)), [P1, P2, P3])
    assert await records.set_size("u1", 25)
    assert await records.set_expiry("u1", 5000.5)
    assert await records.set_state("u1", UploadState.COMPLETING)
    got = await records.get("u1")
    assert got is not None and got.info.size == 25 and got.info.expires_at == 5000.5
    assert got.info.state is UploadState.COMPLETING
    assert await records.parts("u1") == [P1, P2, P3]
    assert await records.set_state("u1", UploadState.COMPLETED)
    assert await records.parts("u1") == []  # the object is assembled: the parts list is not needed
    got = await records.get("u1")
    assert got is not None and got.info.expires_at is None  # finished files do not expire
    assert (got.info.state, got.info.size) == (UploadState.COMPLETED, 25)
    assert await records.set_expiry("u1", None)
    got = await records.get("u1")
    assert got is not None and got.info.expires_at is None and not got.info.discarded
    assert await records.set_discarded("u1", True)
    got = await records.get("u1")
    assert got is not None and got.info.discarded and got.info.size == 25  # nothing else changed


async def _ids(records: UploadRecords) -> set[str]:
    return {i async for i in records.list_ids()}


async def test_live_list_forget_and_tombstones(records: UploadRecords) -> None:
    await records.put(record("a"), [])
    await records.put(record("b"), [])
    handed = record("c")
    handed.info.state = UploadState.HANDED_OFF
    await records.put(handed, [])
    assert await _ids(records) == {"a", "b"}
    await records.forget("a")
    assert await _ids(records) == {"b"}
    assert await records.get("a") is not None  # forgetting only leaves the sweeper's list
    await records.delete("b", tombstone_ttl=60, owner="alice")
    assert await records.get("b") is None and await records.parts("b") == []
    assert await records.tombstone_owner("b") == "alice" and await records.tombstone_owner("a") is None
    assert await _ids(records) == set()


async def test_memory_tombstones_are_purged_by_age() -> None:
    records = MemoryUploadRecords()
    await records.put(record("x"), [])
    await records.delete("x", tombstone_ttl=60, owner="")
    assert await records.purge_tombstones(older_than=0) == 0
    assert await records.purge_tombstones(older_than=float("inf")) == 1
    assert await records.tombstone_owner("x") is None


async def test_redis_tombstones_expire_by_ttl(redis_client: redis.asyncio.Redis) -> None:
    records = RedisUploadRecords(redis_client)
    await records.put(record("x"), [P1])
    await records.delete("x", tombstone_ttl=0.2, owner="")
    assert await records.tombstone_owner("x") == ""
    assert await redis_client.exists(keyspace.upload_key("x"), keyspace.parts_key("x")) == 0
    await asyncio.sleep(0.4)
    assert await records.tombstone_owner("x") is None
    assert await records.purge_tombstones(older_than=float("inf")) == 0  # TTL did the work


async def test_redis_layout_uses_the_keyspace(redis_client: redis.asyncio.Redis) -> None:
    records = RedisUploadRecords(redis_client)
    await records.put(record("k"), [P1])
    keys = {k.decode() for k in await redis_client.keys("*")}
    assert keys == {keyspace.upload_key("k"), keyspace.parts_key("k"), keyspace.LIVE_UPLOADS}
    assert await redis_client.hget(keyspace.upload_key("k"), "offset") == b"0"


async def test_redis_tombstones_of_either_format_are_read_and_purged(redis_client: redis.asyncio.Redis) -> None:
    """A tombstone is "<time> <owner>"; one written before owners were recorded is a bare time
    (no owner: 404 to every user), and one that is neither is purged at once."""
    records = RedisUploadRecords(redis_client)
    await records.delete("new", tombstone_ttl=60, owner="user with spaces")
    await redis_client.set(keyspace.tombstone_key("old"), repr(time.time()), px=60_000)
    await redis_client.set(keyspace.tombstone_key("junk"), "not a time", px=60_000)
    assert await records.tombstone_owner("new") == "user with spaces"
    assert await records.tombstone_owner("old") == ""
    assert await records.purge_tombstones(older_than=time.time() - 3600) == 1  # the junk only
    assert await records.tombstone_owner("junk") is None
    assert await records.purge_tombstones(older_than=time.time() + 1) == 2
    assert await records.tombstone_owner("new") is None and await records.tombstone_owner("old") is None
