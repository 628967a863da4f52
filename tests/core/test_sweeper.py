"""The sweeper: expires unfinished uploads, retries stuck hand-offs, purges tombstones."""

from __future__ import annotations

import asyncio
import time

import pytest

from tusd_py.core.sweeper import Sweeper
from tusd_py.protocol.errors import UploadGone, UploadNotFound
from tusd_py.protocol.headers import Concat, Metadata
from tusd_py.protocol.info import UploadState
from tusd_py.stores.memory import MemoryStore

from .test_service import FakeBody, Sink, make_service

DAY = 86400.0


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def test_expired_unfinished_uploads_are_removed(store: MemoryStore) -> None:
    service = make_service(store, Sink(), expiry_seconds=3600)
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, stale = await service.create(length=10, metadata=Metadata())
    _, finished = await service.create(length=2, metadata=Metadata())
    await service.append(finished.id, 0, FakeBody(b"ok"))
    assert (await sweeper.run_once()).expired == 0  # nothing is due yet
    report = await sweeper.run_once(now=time.time() + 3601)
    assert (report.expired, report.finished, report.purged) == (1, 0, 0)
    with pytest.raises(UploadGone):
        await service.head(stale.id)
    assert (await service.head(finished.id)).is_complete  # finished files never expire


async def test_a_patch_slides_the_expiry(store: MemoryStore) -> None:
    service = make_service(store, Sink(), expiry_seconds=3600)
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, info = await service.create(length=10, metadata=Metadata())
    created_expiry = info.expires_at
    await asyncio.sleep(0.01)
    info = await service.append(info.id, 0, FakeBody(b"abc"))
    assert created_expiry is not None and info.expires_at is not None and info.expires_at > created_expiry
    assert (await sweeper.run_once(now=created_expiry + 0.001)).expired == 0
    assert (await sweeper.run_once(now=info.expires_at + 0.001)).expired == 1


async def test_tombstones_are_purged_after_their_ttl(store: MemoryStore) -> None:
    service = make_service(store, Sink())
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, info = await service.create(length=10, metadata=Metadata())
    await service.terminate(info.id)
    assert (await sweeper.run_once(now=time.time() + DAY / 2)).purged == 0
    with pytest.raises(UploadGone):
        await service.head(info.id)
    assert (await sweeper.run_once(now=time.time() + DAY + 1)).purged == 1
    with pytest.raises(UploadNotFound):
        await service.head(info.id)


async def test_a_stuck_hand_off_is_finished(store: MemoryStore) -> None:
    sink = Sink(failures=1)
    service = make_service(store, sink)
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, info = await service.create(length=3, metadata=Metadata())
    with pytest.raises(RuntimeError):
        await service.append(info.id, 0, FakeBody(b"abc"))
    report = await sweeper.run_once()
    assert report.finished == 1 and sink.finished == [info.id]
    assert store.uploads[info.id][0].state is UploadState.HANDED_OFF
    assert (await sweeper.run_once()).finished == 0  # handed off once


async def test_a_completion_cut_short_is_redone(store: MemoryStore) -> None:
    sink = Sink()
    service = make_service(store, sink)
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, info = await service.create(length=3, metadata=Metadata())
    store.uploads[info.id][1].extend(b"abc")  # bytes stored, then a crash before completion
    store.uploads[info.id][0].state = UploadState.COMPLETING
    assert (await sweeper.run_once()).finished == 1
    assert sink.finished == [info.id]


async def test_finished_partials_are_not_stuck(store: MemoryStore) -> None:
    sink = Sink()
    service = make_service(store, sink)
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, info = await service.create(length=1, metadata=Metadata(), concat=Concat(raw="partial", is_partial=True))
    await service.append(info.id, 0, FakeBody(b"x"))
    assert store.uploads[info.id][0].state is UploadState.COMPLETED
    assert (await sweeper.run_once()).finished == 0
    assert sink.finished == []


async def test_a_busy_upload_is_skipped_not_broken(store: MemoryStore) -> None:
    service = make_service(store, Sink(), expiry_seconds=3600)
    sweeper = Sweeper(service, tombstone_ttl=DAY)
    _, info = await service.create(length=10, metadata=Metadata())
    async with service.locker.lock(info.id, timeout=1):  # a holder that does not let go
        report = await sweeper.run_once(now=time.time() + 3601)
    assert report.expired == 0
    assert (await service.info(info.id)).offset == 0
    assert (await sweeper.run_once(now=time.time() + 3601)).expired == 1  # the next round
