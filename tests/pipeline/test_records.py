"""Media records, file and Redis alike: versioned compare-and-set, and change notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from pipeline.contract import MediaRecord, MediaState
from pipeline.records import FileMediaRecords, MediaRecords, RedisMediaRecords, update


@pytest.fixture(params=["file", "redis"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MediaRecords]:
    if request.param == "file":
        yield FileMediaRecords(tmp_path)
        return
    client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisMediaRecords(client)
    finally:
        await client.aclose()


async def test_missing_record_is_none(records: MediaRecords) -> None:
    assert await records.get("nope") is None


async def test_compare_and_set_bumps_the_version_and_refuses_stale_writers(records: MediaRecords) -> None:
    first = await records.compare_and_set(MediaRecord(upload_id="u1"), 0)
    assert first is not None and first.version == 1
    assert await records.compare_and_set(MediaRecord(upload_id="u1", progress=5), 0) is None  # stale: v0
    second = await records.compare_and_set(first.evolve(state=MediaState.PROCESSING, progress=40), 1)
    assert second is not None and second.version == 2
    stored = await records.get("u1")
    assert stored == second
    assert stored.state is MediaState.PROCESSING and stored.progress == 40


async def test_put_overwrites_whatever_is_there(records: MediaRecords) -> None:
    await records.compare_and_set(MediaRecord(upload_id="u1"), 0)
    stored = await records.put(MediaRecord(upload_id="u1", state=MediaState.FAILED, reason="bad"))
    assert stored.version == 2
    again = await records.get("u1")
    assert again is not None and again.reason == "bad"


async def test_concurrent_updates_are_never_lost(records: MediaRecords) -> None:
    def bump(current: MediaRecord | None) -> MediaRecord:
        base = current or MediaRecord(upload_id="u1")
        return base.evolve(progress=base.progress + 1)

    await asyncio.gather(*(update(records, "u1", bump) for _ in range(20)))
    final = await records.get("u1")
    assert final is not None and final.progress == 20 and final.version == 20


async def test_update_leaves_the_record_alone_when_told(records: MediaRecords) -> None:
    await records.put(MediaRecord(upload_id="u1", state=MediaState.READY))
    assert await update(records, "u1", lambda current: None) is None
    stored = await records.get("u1")
    assert stored is not None and stored.version == 1


async def test_watchers_see_every_later_write_in_order(records: MediaRecords) -> None:
    async with records.watch("u1") as changes:
        for percent in (10, 50, 90):
            await update(records, "u1", lambda c, p=percent: (c or MediaRecord(upload_id="u1")).evolve(progress=p))
        await records.put(MediaRecord(upload_id="other"))  # another upload's writes stay out
        await update(records, "u1", lambda c: c.evolve(state=MediaState.READY) if c else None)
        seen = []
        async for record in changes:
            seen.append((record.version, record.progress, record.state))
            if record.state is MediaState.READY:
                break
    assert seen == [
        (1, 10, MediaState.QUEUED),
        (2, 50, MediaState.QUEUED),
        (3, 90, MediaState.QUEUED),
        (4, 90, MediaState.READY),
    ]


async def test_file_records_are_rows_not_files_and_survive_a_restart(tmp_path: Path) -> None:
    records = FileMediaRecords(tmp_path)
    await records.put(MediaRecord(upload_id="abc"))
    assert (tmp_path / "tusd.sqlite3").is_file() and not (tmp_path / "media").exists()  # no file per record
    again = FileMediaRecords(tmp_path)  # another process would open it the same way
    stored = await again.get("abc")
    assert stored is not None and stored.version == 1
    assert [i async for i in again.list_ids()] == ["abc"]
    with pytest.raises(ValueError):
        await records.get("../etc")
