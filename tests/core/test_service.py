"""UploadService against MemoryStore with a fake request body: the protocol rules without HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tusd_py.core.service import Limits, UploadService
from tusd_py.protocol.checksum import ExpectedChecksum
from tusd_py.protocol.errors import (
    ChecksumMismatch,
    IncompleteUpload,
    InvalidConcat,
    InvalidLength,
    ModifyFinal,
    OffsetMismatch,
    ReadInterrupted,
    TooLarge,
    UploadGone,
    UploadInterrupted,
    UploadNotFinished,
    UploadNotFound,
    UploadSizeExceeded,
)
from tusd_py.protocol.headers import Concat, Metadata, parse_metadata
from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.state.memory import MemoryLocker
from tusd_py.stores.memory import MemoryStore


class FakeBody:
    """A RequestBody: fixed chunks, then a clean end, an error, or a wait for stop()."""

    def __init__(self, *chunks: bytes, declared: int | None = -1, error: str | None = None, hang: bool = False) -> None:
        self.chunks = list(chunks)
        self.declared_length = sum(map(len, chunks)) if declared == -1 else declared
        self.limit: int | None = None
        self.stopped = False
        self.error: str | None = None
        self._end_error = error
        self._hang = hang
        self._stop = asyncio.Event()
        self.delivered = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def has_data(self) -> bool:
        return any(self.chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        for chunk in self.chunks:
            if self._stop.is_set():
                self.stopped = True
                return
            if self.limit is not None and received + len(chunk) > self.limit:
                raise UploadSizeExceeded("too much")
            received += len(chunk)
            yield chunk
        self.delivered.set()
        if self._hang:
            await self._stop.wait()
            self.stopped = True
        self.error = self._end_error


class Sink:
    def __init__(self, failures: int = 0) -> None:
        self.finished: list[str] = []
        self.failures = failures

    async def upload_finished(self, info: UploadInfo) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("queue down")
        self.finished.append(info.id)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def sink() -> Sink:
    return Sink()


def make_service(store: MemoryStore, sink: Sink, **limits: Any) -> UploadService:
    return UploadService(store, MemoryLocker(), sink, Limits(**({"lock_timeout": 5.0} | limits)))


@pytest.fixture
def service(store: MemoryStore, sink: Sink) -> UploadService:
    return make_service(store, sink, expiry_seconds=3600)


async def _new(service: UploadService, length: int | None, **kwargs: Any) -> str:
    _, info = await service.create(length=length, metadata=kwargs.pop("metadata", Metadata()), **kwargs)
    return info.id


def _data(store: MemoryStore, upload_id: str) -> bytes:
    return bytes(store.uploads[upload_id][1])


async def test_create_records_size_metadata_and_expiry(service: UploadService, store: MemoryStore) -> None:
    before = time.time()
    upload_id = await _new(service, 10, metadata=parse_metadata("name Zm9v"))
    info = await service.head(upload_id)
    assert (info.size, info.offset, info.metadata, info.owner) == (10, 0, "name Zm9v", "")
    assert info.created_at >= before and info.expires_at is not None
    assert before + 3600 <= info.expires_at <= time.time() + 3600
    assert info.state is UploadState.RECEIVING


async def test_create_above_max_size(store: MemoryStore, sink: Sink) -> None:
    service = make_service(store, sink, max_size=100)
    with pytest.raises(TooLarge):
        await _new(service, 101)
    assert store.uploads == {}


async def test_store_ceiling_is_the_max_without_a_limit(sink: Sink) -> None:
    service = make_service(MemoryStore(max_upload_size=50), sink)
    assert service.max_size == 50
    with pytest.raises(TooLarge):
        await _new(service, 51)


async def test_zero_length_is_finished_and_handed_off_at_creation(service: UploadService, sink: Sink) -> None:
    upload_id = await _new(service, 0)
    info = await service.head(upload_id)
    assert info.state is UploadState.HANDED_OFF and info.expires_at is None
    assert sink.finished == [upload_id]


async def test_append_until_complete(service: UploadService, store: MemoryStore, sink: Sink) -> None:
    upload_id = await _new(service, 11)
    info = await service.append(upload_id, 0, FakeBody(b"hello"))
    assert info.offset == 5 and info.expires_at is not None and sink.finished == []
    info = await service.append(upload_id, 5, FakeBody(b" wor", b"ld"))
    assert info.offset == 11 and info.state is UploadState.HANDED_OFF and info.expires_at is None
    assert sink.finished == [upload_id]
    assert _data(store, upload_id) == b"hello world"
    info = await service.append(upload_id, 11, FakeBody())  # a retried last PATCH
    assert info.offset == 11 and sink.finished == [upload_id]
    with pytest.raises(UploadSizeExceeded):
        await service.append(upload_id, 11, FakeBody(b"!"))


async def test_offset_mismatch_carries_the_offset(service: UploadService) -> None:
    upload_id = await _new(service, 10)
    await service.append(upload_id, 0, FakeBody(b"abc"))
    with pytest.raises(OffsetMismatch) as caught:
        await service.append(upload_id, 0, FakeBody(b"abc"))
    assert caught.value.current_offset == 3 and caught.value.headers == {"Upload-Offset": "3"}


async def test_declared_body_past_the_length_stores_nothing(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 10)
    with pytest.raises(UploadSizeExceeded):
        await service.append(upload_id, 0, FakeBody(b"x" * 11))
    assert _data(store, upload_id) == b""


async def test_chunked_body_past_the_length_is_rolled_back(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 10)
    await service.append(upload_id, 0, FakeBody(b"12"))
    with pytest.raises(UploadSizeExceeded):
        await service.append(upload_id, 2, FakeBody(b"x" * 5, b"x" * 5, declared=None))
    assert _data(store, upload_id) == b"12"


async def test_deferred_body_is_limited_by_max_size(store: MemoryStore, sink: Sink) -> None:
    service = make_service(store, sink, max_size=10)
    upload_id = await _new(service, None)
    with pytest.raises(TooLarge):
        await service.append(upload_id, 0, FakeBody(b"x" * 11))
    with pytest.raises(UploadSizeExceeded):
        await service.append(upload_id, 0, FakeBody(b"x" * 6, b"x" * 6, declared=None))
    assert _data(store, upload_id) == b""


async def test_a_broken_body_keeps_its_bytes(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 10)
    with pytest.raises(ReadInterrupted) as caught:
        await service.append(upload_id, 0, FakeBody(b"abcd", declared=10, error="connection lost"))
    assert caught.value.status == 500 and caught.value.headers == {"Upload-Offset": "4"}
    assert _data(store, upload_id) == b"abcd"


async def test_a_broken_body_that_completes_still_finishes(service: UploadService, sink: Sink) -> None:
    upload_id = await _new(service, 4)
    with pytest.raises(ReadInterrupted):
        await service.append(upload_id, 0, FakeBody(b"abcd", error="reset"))
    assert sink.finished == [upload_id]


async def test_checksum_match_and_mismatch(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 20)
    good = ExpectedChecksum("sha256", hashlib.sha256(b"hello").digest())
    await service.append(upload_id, 0, FakeBody(b"hel", b"lo"), checksum=good)
    bad = ExpectedChecksum("md5", hashlib.md5(b"other").digest())
    with pytest.raises(ChecksumMismatch):
        await service.append(upload_id, 5, FakeBody(b"world"), checksum=bad)
    assert _data(store, upload_id) == b"hello"


async def test_a_broken_checksummed_body_keeps_nothing(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 20)
    expected = ExpectedChecksum("sha1", hashlib.sha1(b"x" * 20).digest())
    with pytest.raises(ReadInterrupted):
        await service.append(upload_id, 0, FakeBody(b"x" * 8, declared=20, error="reset"), checksum=expected)
    assert _data(store, upload_id) == b""


async def test_checksummed_body_above_the_cap(store: MemoryStore, sink: Sink) -> None:
    service = make_service(store, sink, checksum_max_size=4)
    upload_id = await _new(service, 20)
    expected = ExpectedChecksum("sha1", hashlib.sha1(b"hello").digest())
    with pytest.raises(TooLarge):
        await service.append(upload_id, 0, FakeBody(b"hello"), checksum=expected)
    with pytest.raises(UploadSizeExceeded):
        await service.append(upload_id, 0, FakeBody(b"hel", b"lo", declared=None), checksum=expected)
    assert _data(store, upload_id) == b""


async def test_declare_length_rules(service: UploadService, sink: Sink) -> None:
    upload_id = await _new(service, None)
    await service.append(upload_id, 0, FakeBody(b"12345"))
    with pytest.raises(InvalidLength):
        await service.append(upload_id, 5, FakeBody(), length=4)
    info = await service.append(upload_id, 5, FakeBody(b"678"), length=10)
    assert info.size == 10 and info.offset == 8
    info = await service.append(upload_id, 8, FakeBody(b"9"), length=10)  # same value: ignored
    assert info.offset == 9
    with pytest.raises(InvalidLength):
        await service.append(upload_id, 9, FakeBody(b"0"), length=11)
    info = await service.append(upload_id, 9, FakeBody(b"0"))
    assert info.is_complete and sink.finished == [upload_id]


async def test_declared_length_above_max(store: MemoryStore, sink: Sink) -> None:
    service = make_service(store, sink, max_size=10)
    upload_id = await _new(service, None)
    with pytest.raises(TooLarge):
        await service.append(upload_id, 0, FakeBody(), length=11)
    assert (await service.head(upload_id)).size is None


async def test_empty_patch_that_declares_the_length_completes(service: UploadService, sink: Sink) -> None:
    upload_id = await _new(service, None)
    await service.append(upload_id, 0, FakeBody(b"abc"))
    info = await service.append(upload_id, 3, FakeBody(), length=3)
    assert info.is_complete and info.state is UploadState.HANDED_OFF and sink.finished == [upload_id]


async def test_concatenation(service: UploadService, store: MemoryStore, sink: Sink) -> None:
    partial = Concat(raw="partial", is_partial=True)
    a = await _new(service, 5, concat=partial, metadata=parse_metadata("a Zm9v"))
    b = await _new(service, 6, concat=partial)
    await service.append(a, 0, FakeBody(b"hello"))
    await service.append(b, 0, FakeBody(b" world"))
    assert sink.finished == []  # partials are never handed off
    final = Concat(raw=f"final;/files/{a} /files/{b}", is_partial=False, urls=(f"/files/{a}", f"/files/{b}"))
    _, info = await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=[b, a])
    assert (info.size, info.offset, info.metadata, info.partial_ids) == (11, 11, "", [b, a])
    assert info.is_final and info.expires_at is None and sink.finished == [info.id]
    assert _data(store, info.id) == b" worldhello"
    with pytest.raises(ModifyFinal):
        await service.append(info.id, 11, FakeBody())
    download, dinfo = await service.open_download(info.id)
    assert b"".join([chunk async for chunk in download.read(0, dinfo.size or 0)]) == b" worldhello"


async def test_bad_final_uploads(service: UploadService, store: MemoryStore) -> None:
    partial = Concat(raw="partial", is_partial=True)
    final = Concat(raw="final;x", is_partial=False, urls=("x",))
    done = await _new(service, 1, concat=partial)
    await service.append(done, 0, FakeBody(b"x"))
    unfinished = await _new(service, 2, concat=partial)
    plain = await _new(service, 0)
    before = set(store.uploads)
    for ids, error in (
        ([done, unfinished], UploadNotFinished),
        ([done, plain], InvalidConcat),
        ([done, "nope"], UploadNotFound),
    ):
        with pytest.raises(error):
            await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=ids)
    assert set(store.uploads) == before


async def test_terminate_leaves_a_tombstone(service: UploadService) -> None:
    upload_id = await _new(service, 10)
    await service.terminate(upload_id)
    for call in (service.head(upload_id), service.terminate(upload_id), service.append(upload_id, 0, FakeBody())):
        with pytest.raises(UploadGone):
            await call
    with pytest.raises(UploadNotFound):
        await service.head("unknown")


async def test_an_expired_upload_is_removed_on_access(store: MemoryStore, sink: Sink) -> None:
    service = make_service(store, sink, expiry_seconds=0.01)
    upload_id = await _new(service, 10)
    await asyncio.sleep(0.05)
    with pytest.raises(UploadGone):
        await service.head(upload_id)
    assert upload_id not in store.uploads and upload_id in store.tombstones


async def test_download_of_an_unfinished_upload(service: UploadService) -> None:
    upload_id = await _new(service, 10)
    with pytest.raises(IncompleteUpload):
        await service.open_download(upload_id)


async def test_a_failed_hand_off_is_retried_by_head(store: MemoryStore) -> None:
    sink = Sink(failures=1)
    service = make_service(store, sink)
    upload_id = await _new(service, 3)
    with pytest.raises(RuntimeError):
        await service.append(upload_id, 0, FakeBody(b"abc"))
    assert store.uploads[upload_id][0].state is UploadState.COMPLETED and sink.finished == []
    info = await service.head(upload_id)
    assert info.state is UploadState.HANDED_OFF and sink.finished == [upload_id]
    await service.head(upload_id)
    assert sink.finished == [upload_id]  # once


async def test_a_waiting_request_stops_the_lock_holder(service: UploadService, store: MemoryStore) -> None:
    upload_id = await _new(service, 10)
    body = FakeBody(b"abc", declared=10, hang=True)
    first = asyncio.create_task(service.append(upload_id, 0, body))
    await asyncio.wait_for(body.delivered.wait(), 5)
    info = await asyncio.wait_for(service.head(upload_id), 5)
    assert info.offset == 3
    with pytest.raises(UploadInterrupted) as caught:
        await first
    assert caught.value.headers == {"Upload-Offset": "3"}
    assert _data(store, upload_id) == b"abc"


async def test_info_does_not_take_the_lock(service: UploadService) -> None:
    upload_id = await _new(service, 10)
    body = FakeBody(b"ab", declared=10, hang=True)
    first = asyncio.create_task(service.append(upload_id, 0, body))
    await asyncio.wait_for(body.delivered.wait(), 5)
    assert (await service.info(upload_id)).offset == 2
    assert not body.stopped and not first.done()
    body.stop()
    with pytest.raises(UploadInterrupted):
        await first


@pytest.mark.parametrize("assembles", [True, False])
async def test_completing_is_recorded_where_finish_assembles_an_object(
    store: MemoryStore, sink: Sink, monkeypatch: pytest.MonkeyPatch, assembles: bool
) -> None:
    """An S3-like store records "completing" before it assembles; a store whose finish() only
    checks what is stored goes from "receiving" to "completed" (one write less per upload)."""
    from tusd_py.stores.memory import MemoryUpload

    monkeypatch.setattr(MemoryUpload, "assembles", assembles)
    recorded: list[UploadState] = []
    set_state = MemoryUpload.set_state

    async def spy(self: MemoryUpload, state: UploadState) -> None:
        recorded.append(state)
        await set_state(self, state)

    monkeypatch.setattr(MemoryUpload, "set_state", spy)
    service = make_service(store, sink)
    upload_id = await _new(service, 3)
    info = await service.append(upload_id, 0, FakeBody(b"abc"))
    finished = [UploadState.COMPLETED, UploadState.HANDED_OFF]
    assert recorded == ([UploadState.COMPLETING] if assembles else []) + finished
    assert info.state is UploadState.HANDED_OFF and sink.finished == [upload_id]


async def test_an_interrupted_assembly_is_finished_by_head(store: MemoryStore, sink: Sink) -> None:
    """A crash after "completing" was recorded (S3: between the record and the assembly)."""
    service = make_service(store, sink)
    upload_id = await _new(service, 3)
    upload = await store.get_upload(upload_id)
    await upload.write_chunk(0, FakeBody(b"abc"))
    await upload.set_state(UploadState.COMPLETING)
    info = await service.head(upload_id)
    assert info.state is UploadState.HANDED_OFF and sink.finished == [upload_id]


async def test_final_uploads_list_each_partial_once_and_not_too_many(store: MemoryStore, sink: Sink) -> None:
    service = make_service(store, sink, concat_max_partials=3)
    partial = Concat(raw="partial", is_partial=True)
    ids = [await _new(service, 1, concat=partial) for _ in range(4)]
    for upload_id in ids:
        await service.append(upload_id, 0, FakeBody(b"x"))
    final = Concat(raw="final;x", is_partial=False, urls=("x",))
    before = set(store.uploads)
    with pytest.raises(InvalidConcat, match=f"partial upload {ids[0]} is listed more than once"):
        await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=[ids[0], "nope", ids[0]])
    with pytest.raises(InvalidConcat, match="at most 3 partial uploads, not 4"):
        await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=ids)
    assert set(store.uploads) == before
    _, info = await service.create(length=None, metadata=Metadata(), concat=final, partial_ids=ids[:3])
    assert info.size == 3
