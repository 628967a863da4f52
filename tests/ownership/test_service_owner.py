"""The core's ownership rules: another owner's upload is UploadNotFound on every operation, the
empty owner (an open server) reaches everything, and the catalogue hears of state changes only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.core.test_service import FakeBody, Sink
from tusd_py.core.service import Limits, UploadService
from tusd_py.core.sweeper import Sweeper
from tusd_py.protocol.errors import StorageUnavailable, UploadGone, UploadNotFound
from tusd_py.protocol.headers import Concat, Metadata, parse_concat
from tusd_py.protocol.info import UploadInfo, UploadState
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


@pytest.fixture
def service(store: MemoryStore, catalogue: MemoryCatalogue) -> UploadService:
    return make_service(store, catalogue, expiry_seconds=3600)


async def _new(service: UploadService, length: int | None, owner: str, **kwargs: Any) -> str:
    _, info = await service.create(length=length, metadata=Metadata(), owner=owner, **kwargs)
    return info.id


async def test_the_owner_is_stored_with_the_upload(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 5, ALICE)
    assert (await service.head(upload_id, ALICE)).owner == ALICE
    assert (await (await store.get_upload(upload_id)).get_info()).owner == ALICE


async def test_another_owner_gets_not_found_on_every_operation(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 5, ALICE)
    done_id = await _new(service, 3, ALICE)
    await service.append(done_id, 0, FakeBody(b"abc"), owner=ALICE)
    with pytest.raises(UploadNotFound):
        await service.head(upload_id, BOB)
    with pytest.raises(UploadNotFound):
        await service.info(upload_id, BOB)
    body = FakeBody(b"hello")
    with pytest.raises(UploadNotFound):
        await service.append(upload_id, 0, body, owner=BOB)
    with pytest.raises(UploadNotFound):
        await service.append(upload_id, 0, FakeBody(b""), length=5, owner=BOB)
    with pytest.raises(UploadNotFound):
        await service.terminate(upload_id, BOB)
    with pytest.raises(UploadNotFound):
        await service.open_download(done_id, BOB)
    # nothing happened to Alice's uploads
    assert bytes(store.uploads[upload_id][1]) == b""
    assert (await service.head(upload_id, ALICE)).offset == 0
    _, info = await service.open_download(done_id, ALICE)
    assert info.size == 3


async def test_the_refusal_reads_like_an_unknown_id(service: UploadService) -> None:
    upload_id = await _new(service, 5, ALICE)
    with pytest.raises(UploadNotFound) as theirs:
        await service.head(upload_id, BOB)
    with pytest.raises(UploadNotFound) as unknown:
        await service.head("0" * 32, BOB)
    assert type(theirs.value) is type(unknown.value)
    assert (theirs.value.status, theirs.value.code) == (404, "ERR_UPLOAD_NOT_FOUND")
    assert ALICE not in theirs.value.message


async def test_an_expired_upload_of_another_owner_is_not_found_and_stays(
    store: MemoryStore, catalogue: MemoryCatalogue
) -> None:
    service = make_service(store, catalogue, expiry_seconds=0.01)
    upload_id = await _new(service, 5, ALICE)
    info = await (await store.get_upload(upload_id)).get_info()
    assert info.expires_at is not None
    await asyncio.sleep(0.02)
    with pytest.raises(UploadNotFound):  # not 410: Bob learns nothing of it
        await service.head(upload_id, BOB)
    with pytest.raises(UploadGone):  # its owner sees it expired, and it is removed
        await service.head(upload_id, ALICE)
    assert ("terminated", upload_id) in catalogue.calls


async def test_a_removed_upload_is_gone_for_its_owner_only(store: MemoryStore, catalogue: MemoryCatalogue) -> None:
    """The tombstone records the owner: 410 to them (and to an open server's caller), 404 to
    anyone else on every operation, for a deleted and for an expired upload alike."""
    service = make_service(store, catalogue, expiry_seconds=0.01)
    deleted, expired = await _new(service, 3, ALICE), await _new(service, 5, ALICE)
    await service.append(deleted, 0, FakeBody(b"abc"), owner=ALICE)
    await asyncio.sleep(0.02)
    await service.terminate(deleted, ALICE)
    with pytest.raises(UploadGone):
        await service.head(expired, ALICE)  # removed on this touch, as expired
    for upload_id in (deleted, expired):
        for call in (
            service.head(upload_id, BOB),
            service.info(upload_id, BOB),
            service.append(upload_id, 0, FakeBody(b"x"), owner=BOB),
            service.terminate(upload_id, BOB),
            service.open_download(upload_id, BOB),
        ):
            with pytest.raises(UploadNotFound) as refused:
                await call
            assert type(refused.value) is UploadNotFound and ALICE not in refused.value.message
        for owner in (ALICE, ""):
            with pytest.raises(UploadGone):
                await service.head(upload_id, owner)
            with pytest.raises(UploadGone):
                await service.info(upload_id, owner)
    partial = parse_concat("partial")
    assert partial is not None
    theirs = await _new(service, 2, ALICE, concat=partial)
    await service.append(theirs, 0, FakeBody(b"ab"), owner=ALICE)
    await service.terminate(theirs, ALICE)
    final = Concat(raw="final;x", is_partial=False, urls=("x",))
    with pytest.raises(UploadNotFound, match=f"partial upload {theirs} does not exist"):
        await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=[theirs], owner=BOB)
    with pytest.raises(UploadGone):
        await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=[theirs], owner=ALICE)


async def test_an_open_server_reaches_every_upload(service: UploadService) -> None:
    mine = await _new(service, 5, ALICE)
    anonymous = await _new(service, 5, "")
    assert (await service.head(mine, "")).owner == ALICE
    assert (await service.append(mine, 0, FakeBody(b"hello"), owner="")).offset == 5
    assert (await service.head(anonymous, "")).owner == ""
    with pytest.raises(UploadNotFound):  # an owner does not reach the anonymous uploads
        await service.head(anonymous, BOB)
    await service.terminate(anonymous, "")


async def test_a_final_upload_may_not_list_another_owners_partial(service: UploadService) -> None:
    partial = parse_concat("partial")
    assert partial is not None
    theirs = await _new(service, 3, ALICE, concat=partial)
    await service.append(theirs, 0, FakeBody(b"abc"), owner=ALICE)
    mine = await _new(service, 2, BOB, concat=partial)
    await service.append(mine, 0, FakeBody(b"de"), owner=BOB)
    final = Concat(raw="final;x", is_partial=False, urls=("x",))
    with pytest.raises(UploadNotFound, match=f"partial upload {theirs} does not exist"):
        await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=[mine, theirs], owner=BOB)
    _, info = await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=[mine], owner=BOB)
    assert (info.size, info.owner) == (2, BOB)
    _, info = await service.create(
        length=None, metadata=Metadata(), concat=final, partial_ids=[theirs, mine], owner=""
    )  # an open server concatenates whatever it is given, as before
    assert info.size == 5


async def test_the_catalogue_hears_of_state_changes_not_of_bytes(
    service: UploadService, catalogue: MemoryCatalogue
) -> None:
    upload_id = await _new(service, 6, ALICE)
    assert catalogue.calls == [("created", upload_id)]
    await service.append(upload_id, 0, FakeBody(b"abc"), owner=ALICE)
    await service.head(upload_id, ALICE)
    assert catalogue.calls == [("created", upload_id)]  # a PATCH that changes no state says nothing
    await service.append(upload_id, 3, FakeBody(b"def"), owner=ALICE)
    assert catalogue.calls == [("created", upload_id), ("updated", upload_id)]
    assert catalogue.entries[upload_id].state == str(UploadState.HANDED_OFF)
    await service.terminate(upload_id, ALICE)
    assert catalogue.calls[-1] == ("terminated", upload_id)
    assert upload_id not in catalogue.entries


async def test_a_declared_length_and_a_zero_length_upload_are_told(
    service: UploadService, catalogue: MemoryCatalogue
) -> None:
    deferred = await _new(service, None, ALICE)
    assert catalogue.entries[deferred].size is None
    await service.append(deferred, 0, FakeBody(b""), length=4, owner=ALICE)
    assert catalogue.entries[deferred].size == 4
    assert catalogue.calls[-1] == ("updated", deferred)
    empty = await _new(service, 0, ALICE)
    assert catalogue.entries[empty].state == str(UploadState.HANDED_OFF)


async def test_the_sweeper_tells_the_catalogue_of_expired_uploads(
    store: MemoryStore, catalogue: MemoryCatalogue
) -> None:
    service = make_service(store, catalogue, expiry_seconds=1)
    upload_id = await _new(service, 5, ALICE)
    report = await Sweeper(service, tombstone_ttl=60).run_once(now=10**10)
    assert report.expired == 1
    assert upload_id not in catalogue.entries


async def test_an_upload_the_catalogue_could_not_record_is_not_kept(store: MemoryStore) -> None:
    class Down(MemoryCatalogue):
        async def created(self, info: UploadInfo) -> None:
            raise StorageUnavailable("the database does not answer")

    service = make_service(store, Down())
    with pytest.raises(StorageUnavailable):
        await _new(service, 5, ALICE)
    assert store.uploads == {}  # it would have escaped Alice's quota, list and erasure


class _FlakyCatalogue(MemoryCatalogue):
    """Fails its first ``updated``, as a database that blinks."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def updated(self, info: UploadInfo) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("the database does not answer")
        await super().updated(info)


@pytest.mark.parametrize("partial", [False, True])
async def test_a_finish_the_catalogue_missed_is_told_again(store: MemoryStore, partial: bool) -> None:
    catalogue = _FlakyCatalogue()
    service = make_service(store, catalogue)
    concat = parse_concat("partial") if partial else None
    upload_id = await _new(service, 3, ALICE, concat=concat)
    with pytest.raises(StorageUnavailable):  # every byte is stored; the finish is not over
        await service.append(upload_id, 0, FakeBody(b"abc"), owner=ALICE)
    assert catalogue.entries[upload_id].state == "receiving"
    info = await service.head(upload_id, ALICE)  # the next request finishes the job
    expected = UploadState.COMPLETED if partial else UploadState.HANDED_OFF
    assert info.state is expected and info.offset == 3
    assert catalogue.entries[upload_id].state == str(expected)
    assert (await catalogue.usage(ALICE)).uploads_in_flight == 0


async def test_a_delete_the_catalogue_missed_is_told_on_the_next_one(store: MemoryStore) -> None:
    class Blinking(MemoryCatalogue):
        failures = 1

        async def terminated(self, upload_id: str) -> None:
            if Blinking.failures:
                Blinking.failures -= 1
                raise StorageUnavailable("the database does not answer")
            await super().terminated(upload_id)

    catalogue = Blinking()
    service = make_service(store, catalogue)
    upload_id = await _new(service, 5, ALICE)
    with pytest.raises(StorageUnavailable):
        await service.terminate(upload_id, ALICE)
    assert upload_id in catalogue.entries  # the upload is gone, its row is not
    with pytest.raises(UploadGone):  # the client's retry: 410, and the row goes
        await service.terminate(upload_id, ALICE)
    assert upload_id not in catalogue.entries
    assert (await catalogue.usage(ALICE)).bytes_held == 0
