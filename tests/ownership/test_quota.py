"""Quotas in the core: bytes held and unfinished uploads per owner, refused before a byte is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.test_service import FakeBody, Sink
from tusd_py.core.quota import Quota
from tusd_py.core.service import Limits, UploadService
from tusd_py.protocol.errors import QuotaExceeded, UploadSizeExceeded
from tusd_py.protocol.headers import Concat, Metadata, parse_concat
from tusd_py.state.memory import MemoryLocker
from tusd_py.stores.memory import MemoryStore

from .fakes import MemoryCatalogue

ALICE, BOB = "user-alice", "user-bob"


@pytest.fixture
def catalogue() -> MemoryCatalogue:
    return MemoryCatalogue()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def make_service(store: MemoryStore, catalogue: MemoryCatalogue, **limits: Any) -> UploadService:
    return UploadService(store, MemoryLocker(), Sink(), Limits(lock_timeout=5.0, **limits), catalogue=catalogue)


async def _new(service: UploadService, length: int | None, owner: str = ALICE, **kwargs: Any) -> str:
    _, info = await service.create(length=length, metadata=Metadata(), owner=owner, **kwargs)
    return info.id


async def test_bytes_quota_at_creation(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    service = make_service(store, catalogue, quota_bytes=100)
    await _new(service, 60)
    with pytest.raises(QuotaExceeded, match=r"41 bytes asked, 40 bytes left of 100 bytes") as refused:
        await _new(service, 41)
    assert (refused.value.status, refused.value.code) == (413, "ERR_QUOTA_EXCEEDED")
    assert len(store.uploads) == 1  # nothing created
    await _new(service, 40)  # exactly the quota
    await _new(service, 10, BOB)  # another owner has a quota of their own
    await _new(service, 10, "")  # an open server's uploads have no owner, and no quota
    with pytest.raises(QuotaExceeded):
        await _new(service, 1)


async def test_deleting_makes_room(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    service = make_service(store, catalogue, quota_bytes=100)
    first = await _new(service, 100)
    with pytest.raises(QuotaExceeded):
        await _new(service, 1)
    await service.terminate(first, ALICE)
    await _new(service, 100)


async def test_unfinished_uploads_quota(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    service = make_service(store, catalogue, quota_uploads_in_flight=2)
    a = await _new(service, 3)
    await _new(service, None)
    with pytest.raises(QuotaExceeded, match="too many unfinished uploads: 2 of 2"):
        await _new(service, 3)
    await _new(service, 0)  # complete at creation: never in flight
    await service.append(a, 0, FakeBody(b"abc"), owner=ALICE)  # finishing one makes room
    await _new(service, 3)


async def test_a_declared_length_is_checked_when_it_is_declared(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    service = make_service(store, catalogue, quota_bytes=100)
    await _new(service, 50)
    deferred = await _new(service, None)
    with pytest.raises(QuotaExceeded):
        await service.append(deferred, 0, FakeBody(b"abc"), length=51, owner=ALICE)
    assert bytes(store.uploads[deferred][1]) == b""  # refused before a byte is stored
    info = await service.append(deferred, 0, FakeBody(b"abc"), length=50, owner=ALICE)
    assert (info.size, info.offset) == (50, 3)


async def test_a_deferred_body_is_capped_by_the_quota(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    service = make_service(store, catalogue, quota_bytes=10)
    deferred = await _new(service, None)
    with pytest.raises(QuotaExceeded):  # declared body beyond the quota: nothing stored
        await service.append(deferred, 0, FakeBody(b"x" * 11), owner=ALICE)
    assert bytes(store.uploads[deferred][1]) == b""
    await service.append(deferred, 0, FakeBody(b"x" * 6), owner=ALICE)
    with pytest.raises(UploadSizeExceeded):  # a chunked body meets the quota as it would the size
        await service.append(deferred, 6, FakeBody(b"yy", b"yyy", declared=None), owner=ALICE)
    assert len(store.uploads[deferred][1]) <= 10


async def test_patch_is_refused_when_the_owner_is_over_quota(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    generous = make_service(store, catalogue, quota_bytes=100)
    upload_id = await _new(generous, 80)
    await generous.append(upload_id, 0, FakeBody(b"a" * 10), owner=ALICE)
    strict = make_service(store, catalogue, quota_bytes=50)  # the quota was lowered meanwhile
    with pytest.raises(QuotaExceeded, match="80 bytes held, the quota is 50 bytes"):
        await strict.append(upload_id, 10, FakeBody(b"b" * 10), owner=ALICE)
    assert len(store.uploads[upload_id][1]) == 10
    with pytest.raises(QuotaExceeded):  # the quota is the upload's owner's, whoever sends the bytes
        await strict.append(upload_id, 10, FakeBody(b"b" * 10), owner="")
    anonymous = await _new(strict, 80, "")
    assert (await strict.append(anonymous, 0, FakeBody(b"c" * 10), owner="")).offset == 10


async def test_a_final_upload_counts_its_whole_size(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    service = make_service(store, catalogue, quota_bytes=10)
    partial = parse_concat("partial")
    assert partial is not None
    ids = []
    for data in (b"abc", b"de"):
        pid = await _new(service, len(data), concat=partial)
        await service.append(pid, 0, FakeBody(data), owner=ALICE)
        ids.append(pid)
    final = Concat(raw="final;x", is_partial=False, urls=("x",))
    _, info = await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=ids, owner=ALICE)
    assert info.size == 5  # 5 held by the partials + 5 by the final = the quota of 10
    with pytest.raises(QuotaExceeded):
        await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=ids, owner=ALICE)


async def test_no_quota_asks_the_catalogue_nothing(store: MemoryStore) -> None:
    class Counting(MemoryCatalogue):
        asked = 0

        async def usage(self, owner: str) -> Any:
            Counting.asked += 1
            return await super().usage(owner)

    service = make_service(store, Counting())
    upload_id = await _new(service, 3)
    await service.append(upload_id, 0, FakeBody(b"abc"), owner=ALICE)
    assert Counting.asked == 0
    assert not Quota(Counting()).active


async def test_the_message_names_sizes_readably(catalogue: MemoryCatalogue) -> None:
    quota = Quota(catalogue, max_bytes=5 * 1024**3)
    with pytest.raises(QuotaExceeded, match=r"6.0 GiB asked, 5.0 GiB left of 5.0 GiB"):
        await quota.admit_upload(ALICE, 6 * 1024**3, in_flight=True)
