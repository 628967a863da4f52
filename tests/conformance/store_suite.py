"""The contract every Store meets (``core/ports.py``), as a base class of tests.

After tus-node-server's shared ``shouldCreateUploads/shouldRemoveUploads/shouldWriteUploads/
shouldHandleOffset``: each store's test module subclasses ``StoreConformance`` and so runs
every case below; store-only cases go next to it in the same module.

How to subclass::

    class TestMyStore(StoreConformance):
        LARGE_CHUNK = 5 * MiB  # class attributes below tune sizes to the backend

        @pytest.fixture(autouse=True)
        def _backend(self, tmp_path, moto_endpoint):  # stash what make_store needs on self
            self.tmp = tmp_path

        async def make_store(self) -> Store:  # required: a ready store (started, if it needs that)
            ...

        async def stored_size(self, store, upload_id) -> int | None:  # required
            ...  # bytes the backend durably holds for the upload, None when it holds nothing

        async def reopen(self, store) -> Store | None:  # optional: a new store over the same backend
            ...  # (a restarted process); None (the default) skips the restart case

        async def close_store(self, store) -> None:  # optional teardown (clients, pools)
            ...

``stored_size`` is the backend's own view, read around the store under test (a file's size,
parts plus tail in S3), so "offset == bytes stored" and "terminate frees the bytes" are
checked against the storage itself and not only against the store's word.

Nothing here assumes a filesystem: bytes go in through ``write_chunk`` and come back through
``read`` after ``finish`` (the contract only promises ``read`` on a complete upload).

The cases of an optional capability (termination, concatenation, deferred length, expiry,
plaintext discard, listing) reach the store through the view ``StoreComposer`` finds
(``offered``), as the service does, and are skipped for a store that does not offer it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tusd_py.core.composer import StoreComposer
from tusd_py.core.ports import Store, Upload
from tusd_py.protocol.errors import TusError, UploadGone, UploadNotFound, UploadSizeExceeded
from tusd_py.protocol.info import UploadInfo, UploadState

from .fakes import FakeBody, pattern, split

KiB = 1024
MiB = 1024 * KiB


def new_info(size: int | None, **fields: Any) -> UploadInfo:
    return UploadInfo(id=uuid.uuid4().hex, size=size, created_at=time.time(), **fields)


async def read_all(upload: Upload, start: int = 0, end: int | None = None) -> bytes:
    if end is None:
        end = (await upload.get_info()).offset
    return b"".join([chunk async for chunk in upload.read(start, end)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StoreConformance:
    CHUNK = 64 * KiB  # ordinary bodies
    SMALL_CHUNK = 1000  # "many small chunks": not a divisor of any buffer or part size
    SMALL_COUNT = 600
    SIZE = 300 * KiB  # an ordinary upload
    ROLLBACK_SIZE = 3 * MiB  # bytes a violating body delivers before it raises (past any 1 MiB buffer)
    PARTIAL_SIZES = (200 * KiB, 120 * KiB)  # partials of a concatenation
    LARGE_SIZE = 12 * MiB
    LARGE_CHUNK = 1 * MiB
    SINGLE_CHUNK = 7 * MiB  # one chunk bigger than any buffer

    # -- hooks ----------------------------------------------------------------------------------
    async def make_store(self) -> Store:
        raise NotImplementedError("subclasses build the store under test")

    async def stored_size(self, store: Store, upload_id: str) -> int | None:
        raise NotImplementedError("subclasses report the bytes the backend holds for an upload")

    async def reopen(self, store: Store) -> Store | None:
        return None

    async def close_store(self, store: Store) -> None:
        return None

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        store = await self.make_store()
        try:
            yield store
        finally:
            await self.close_store(store)

    # -- helpers ----------------------------------------------------------------------------------
    def offered(self, store: Store, capability: str) -> Any:
        """The store as ``capability`` (a ``StoreComposer`` field); the case is skipped without it."""
        found = getattr(StoreComposer.of(store), capability)
        if found is None:
            pytest.skip(f"the {store.name} store does not offer {capability}")
        return found

    async def create(self, store: Store, size: int | None, **fields: Any) -> Upload:
        return await store.create_upload(new_info(size, **fields))

    async def append(self, upload: Upload, data: bytes, chunk: int | None = None) -> int:
        offset = (await upload.get_info()).offset
        return await upload.write_chunk(offset, FakeBody(split(data, chunk or self.CHUNK)))

    async def assert_offset(self, store: Store, upload_id: str, expected: int) -> None:
        """A fresh handle reports ``expected``, and the backend really holds that many bytes."""
        info = await (await store.get_upload(upload_id)).get_info()
        assert (info.offset, await self.stored_size(store, upload_id)) == (expected, expected)

    async def finished(self, store: Store, data: bytes, chunk: int | None = None, **fields: Any) -> Upload:
        upload = await self.create(store, len(data), **fields)
        assert await self.append(upload, data, chunk) == len(data)
        await upload.finish()
        return upload

    # -- creating --------------------------------------------------------------------------------
    async def test_create_then_get_round_trips_every_field(self, store: Store) -> None:
        info = new_info(
            1234,
            metadata="filename ZmlsbS5tcDQ=,is_confidential",
            owner="alice",
            expires_at=time.time() + 3600,
        )
        created = await store.create_upload(info)
        fresh = await (await store.get_upload(info.id)).get_info()
        assert fresh == await created.get_info()
        assert (fresh.id, fresh.size, fresh.offset) == (info.id, 1234, 0)
        assert (fresh.metadata, fresh.owner) == ("filename ZmlsbS5tcDQ=,is_confidential", "alice")
        assert (fresh.created_at, fresh.expires_at) == (info.created_at, info.expires_at)
        assert (fresh.is_partial, fresh.is_final, fresh.concat, fresh.partial_ids) == (False, False, "", [])
        assert fresh.state is UploadState.RECEIVING
        assert fresh.storage.get("type") == store.name

    async def test_partial_and_deferred_uploads_round_trip(self, store: Store) -> None:
        partial = new_info(None, is_partial=True, concat="partial")
        await store.create_upload(partial)
        fresh = await (await store.get_upload(partial.id)).get_info()
        assert (fresh.size, fresh.size_is_deferred, fresh.is_partial, fresh.is_final) == (None, True, True, False)
        assert (fresh.concat, fresh.expires_at) == ("partial", None)

    async def test_final_upload_round_trips_its_concat_fields(self, store: Store) -> None:
        first = await self.finished(store, b"abc", is_partial=True, concat="partial")
        second = await self.finished(store, b"defg", is_partial=True, concat="partial")
        ids = [(await first.get_info()).id, (await second.get_info()).id]
        raw = f"final;/files/{ids[0]} /files/{ids[1]}"
        final = new_info(7, is_final=True, concat=raw, partial_ids=ids)
        await store.create_upload(final)
        fresh = await (await store.get_upload(final.id)).get_info()
        assert (fresh.is_final, fresh.is_partial, fresh.concat, fresh.partial_ids) == (True, False, raw, ids)

    async def test_unknown_id_is_not_found(self, store: Store) -> None:
        with pytest.raises(UploadNotFound):
            await store.get_upload(uuid.uuid4().hex)

    async def test_zero_length_upload_can_finish(self, store: Store) -> None:
        upload = await self.create(store, 0)
        info = await upload.get_info()
        assert (info.offset, info.is_complete) == (0, True)
        await upload.finish()
        await upload.finish()
        assert await read_all(upload, 0, 0) == b""
        assert (await (await store.get_upload(info.id)).get_info()).offset == 0

    # -- writing ---------------------------------------------------------------------------------
    async def test_write_chunk_appends_and_returns_the_bytes_written(self, store: Store) -> None:
        data = pattern(self.SIZE)
        upload = await self.create(store, len(data))
        uid = (await upload.get_info()).id
        cuts = [0, 1, len(data) // 4 + 3, len(data) * 2 // 3, len(data)]  # odd sizes, several calls
        for start, end in itertools.pairwise(cuts):
            written = await upload.write_chunk(start, FakeBody(split(data[start:end], self.CHUNK)))
            assert written == end - start
            await self.assert_offset(store, uid, end)
        await upload.finish()
        assert sha(await read_all(upload)) == sha(data)

    async def test_many_small_chunks_give_the_exact_bytes(self, store: Store) -> None:
        data = pattern(self.SMALL_CHUNK * self.SMALL_COUNT + 17, seed=1)
        upload = await self.create(store, len(data))
        half = len(data) // 2 + 5
        assert await self.append(upload, data[:half], self.SMALL_CHUNK) == half
        assert await self.append(upload, data[half:], self.SMALL_CHUNK) == len(data) - half
        await self.assert_offset(store, (await upload.get_info()).id, len(data))
        await upload.finish()
        assert sha(await read_all(upload)) == sha(data)

    async def test_write_at_a_wrong_offset_is_refused_and_stores_nothing(self, store: Store) -> None:
        upload = await self.create(store, 100)
        await self.append(upload, b"x" * 10)
        for wrong in (0, 11):
            with pytest.raises(TusError):
                await upload.write_chunk(wrong, FakeBody([b"y" * 5]))
        await self.assert_offset(store, (await upload.get_info()).id, 10)

    async def test_a_body_that_ends_early_keeps_every_byte_received(self, store: Store) -> None:
        data = pattern(self.SIZE, seed=2)
        upload = await self.create(store, len(data))
        uid = (await upload.get_info()).id
        chunks = split(data, self.CHUNK)
        body = FakeBody(chunks, vanish_after=3, declared_length=len(data))
        written = await upload.write_chunk(0, body)
        assert (written, body.sent, body.error is not None) == (3 * self.CHUNK, 3 * self.CHUNK, True)
        await self.assert_offset(store, uid, written)
        assert await self.append(upload, data[written:]) == len(data) - written  # the client resumes
        await upload.finish()
        assert sha(await read_all(upload)) == sha(data)

    async def test_a_protocol_violation_leaves_the_upload_exactly_as_before(self, store: Store) -> None:
        data = pattern(self.SIZE + self.ROLLBACK_SIZE, seed=3)
        upload = await self.create(store, len(data))
        uid = (await upload.get_info()).id
        first = 100 * KiB + 1
        await self.append(upload, data[:first])
        violating = FakeBody(split(data[first:], self.CHUNK), raise_after=self.ROLLBACK_SIZE // self.CHUNK)
        with pytest.raises(UploadSizeExceeded):
            await upload.write_chunk(first, violating)
        assert violating.sent == self.ROLLBACK_SIZE  # the store did take bytes before the violation
        await self.assert_offset(store, uid, first)
        assert await self.append(upload, data[first:]) == len(data) - first
        await upload.finish()
        assert sha(await read_all(upload)) == sha(data)

    async def test_a_violation_in_the_first_body_leaves_an_empty_upload(self, store: Store) -> None:
        data = pattern(self.ROLLBACK_SIZE, seed=4)
        upload = await self.create(store, None)
        chunks = split(data, self.CHUNK)
        with pytest.raises(UploadSizeExceeded):  # raised after the last chunk was handed over
            await upload.write_chunk(0, FakeBody(chunks, raise_after=len(chunks)))
        await self.assert_offset(store, (await upload.get_info()).id, 0)

    async def test_declare_length_on_a_deferred_upload(self, store: Store) -> None:
        deferrer = self.offered(store, "length_deferrer")
        data = pattern(self.SIZE, seed=5)
        upload = await self.create(store, None)
        uid = (await upload.get_info()).id
        await self.append(upload, data[:1000])
        assert (await (await store.get_upload(uid)).get_info()).size is None
        await deferrer.as_length_declarable_upload(upload).declare_length(len(data))
        fresh = await (await store.get_upload(uid)).get_info()
        assert (fresh.size, fresh.offset, fresh.is_complete) == (len(data), 1000, False)
        await self.append(upload, data[1000:])
        await upload.finish()
        assert sha(await read_all(upload)) == sha(data)

    async def test_uploads_written_concurrently_stay_apart(self, store: Store) -> None:
        datas = [pattern(self.SIZE, seed=10 + i) for i in range(3)]
        uploads = [await self.create(store, len(d)) for d in datas]
        await asyncio.gather(*(self.append(u, d) for u, d in zip(uploads, datas, strict=True)))
        for upload, data in zip(uploads, datas, strict=True):
            await upload.finish()
            assert sha(await read_all(upload)) == sha(data)

    # -- state -----------------------------------------------------------------------------------
    async def test_expiry_and_state_persist_through_the_finishing_steps(self, store: Store) -> None:
        upload = await self.create(store, 5, expires_at=time.time() + 60)
        uid = (await upload.get_info()).id

        async def fresh() -> UploadInfo:
            return await (await store.get_upload(uid)).get_info()

        later = time.time() + 7200
        await self.offered(store, "expirer").as_expiring_upload(upload).set_expiry(later)
        assert (await fresh()).expires_at == later
        await self.append(upload, b"hello")
        await upload.set_state(UploadState.COMPLETING)
        assert (await fresh()).state is UploadState.COMPLETING
        await upload.finish()
        await upload.set_state(UploadState.COMPLETED)  # ends the expiry too: finished files do not expire
        info = await fresh()
        assert (info.state, info.expires_at, info.offset) == (UploadState.COMPLETED, None, 5)
        await upload.set_state(UploadState.HANDED_OFF)
        info = await fresh()
        assert (info.state, info.offset, info.size) == (UploadState.HANDED_OFF, 5, 5)
        assert await read_all(await store.get_upload(uid)) == b"hello"

    async def test_finish_verifies_the_size_and_is_idempotent(self, store: Store) -> None:
        data = pattern(self.SIZE, seed=6)
        upload = await self.create(store, len(data))
        await self.append(upload, data[:-1])
        with pytest.raises(TusError):
            await upload.finish()
        await self.append(upload, data[-1:])
        await upload.finish()
        await upload.finish()
        await (await store.get_upload((await upload.get_info()).id)).finish()
        assert sha(await read_all(upload)) == sha(data)

    # -- reading ---------------------------------------------------------------------------------
    async def test_read_returns_exactly_the_requested_range(self, store: Store) -> None:
        self.offered(store, "reader")
        data = pattern(self.SIZE, seed=7)
        upload = await self.finished(store, data)
        n = len(data)
        for start, end in [
            (0, n),
            (0, 1),
            (n - 1, n),
            (1000, 1000),
            (n, n),
            (0, 0),
            (self.CHUNK - 1, 2 * self.CHUNK + 1),
        ]:
            assert await read_all(upload, start, end) == data[start:end], (start, end)

    # -- concatenation ---------------------------------------------------------------------------
    async def test_concat_writes_the_partials_in_order(self, store: Store) -> None:
        datas = [pattern(size, seed=20 + i) for i, size in enumerate(self.PARTIAL_SIZES)]
        partials = [await self.finished(store, d, is_partial=True, concat="partial") for d in datas]
        order = [partials[0], partials[1], partials[0]]  # the same partial twice is allowed
        expected = datas[0] + datas[1] + datas[0]
        ids = [(await p.get_info()).id for p in order]
        final = await self.create(store, len(expected), is_final=True, concat="final;x", partial_ids=ids)
        await self.offered(store, "concater").concat(final, order)
        final_id = (await final.get_info()).id
        await self.assert_offset(store, final_id, len(expected))
        await final.finish()
        assert sha(await read_all(await store.get_upload(final_id))) == sha(expected)
        for partial, data in zip(partials, datas, strict=True):  # the partials are untouched
            assert sha(await read_all(partial)) == sha(data)

    # -- termination -----------------------------------------------------------------------------
    async def test_terminate_leaves_a_tombstone_and_frees_the_bytes(self, store: Store) -> None:
        terminater = self.offered(store, "terminater")
        upload = await self.create(store, self.SIZE)
        uid = (await upload.get_info()).id
        await self.append(upload, pattern(self.SIZE // 2))
        await terminater.as_terminatable_upload(upload).terminate("terminated")
        with pytest.raises(UploadGone):
            await store.get_upload(uid)
        with pytest.raises(UploadGone):
            await upload.get_info()  # a handle taken before the terminate sees it too
        with pytest.raises((UploadGone, UploadNotFound)):  # a typed error, never an OS or SDK one
            await read_all(upload, 0, 1)
        assert await self.stored_size(store, uid) is None
        if (lister := StoreComposer.of(store).lister) is not None:
            assert uid not in [i async for i in lister.list_upload_ids()]
        assert await terminater.purge_tombstones(older_than=time.time() - 3600) == 0  # too young to purge
        with pytest.raises(UploadGone):
            await store.get_upload(uid)
        assert await terminater.purge_tombstones(older_than=time.time() + 3600) >= 1
        with pytest.raises(UploadNotFound):
            await store.get_upload(uid)

    async def test_a_tombstone_records_the_uploads_owner(self, store: Store) -> None:
        """Termination and expiry write the same tombstone: its UploadGone names the owner (so
        the service tells anyone else 404), and an anonymous upload's names none."""
        terminater = self.offered(store, "terminater")
        owned, anonymous = new_info(self.SIZE, owner="alice"), new_info(self.SIZE)
        handles = [await store.create_upload(owned), await store.create_upload(anonymous)]
        await self.append(handles[0], pattern(self.SIZE // 2))
        await terminater.as_terminatable_upload(handles[0]).terminate("terminated")
        await terminater.as_terminatable_upload(handles[1]).terminate("expired")
        for info, handle, owner in ((owned, handles[0], "alice"), (anonymous, handles[1], "")):
            with pytest.raises(UploadGone) as gone:
                await store.get_upload(info.id)
            assert gone.value.owner == owner
            with pytest.raises(UploadGone) as gone:
                await handle.get_info()  # a handle taken before the terminate: the same tombstone
            assert gone.value.owner == owner
        if (reopened := await self.reopen(store)) is not None:  # the owner outlives the process
            try:
                with pytest.raises(UploadGone) as gone:
                    await reopened.get_upload(owned.id)
                assert gone.value.owner == "alice"
            finally:
                await self.close_store(reopened)

    async def test_discard_keeps_a_finished_upload_complete(self, store: Store) -> None:
        discarder = self.offered(store, "discarder")
        data = pattern(self.SIZE, seed=12)
        upload = await self.finished(store, data)
        uid = (await upload.get_info()).id
        await upload.set_state(UploadState.HANDED_OFF)  # processing discards only what it was handed
        assert not (await upload.get_info()).discarded
        await discarder.as_discardable_upload(upload).discard()
        await discarder.as_discardable_upload(upload).discard()  # a retried job discards again: idempotent
        for handle in (upload, await store.get_upload(uid)):
            info = await handle.get_info()
            assert (info.offset, info.size, info.state) == (len(data), len(data), UploadState.HANDED_OFF)
            assert info.discarded  # the upload itself says its plaintext is gone (HEAD and GET read it)
        again = await self.reopen(store)
        if again is not None:
            info = await (await again.get_upload(uid)).get_info()
            assert (info.offset, info.discarded) == (len(data), True)

    async def test_an_unfinished_upload_cannot_be_discarded(self, store: Store) -> None:
        discarder = self.offered(store, "discarder")
        data = pattern(self.SIZE, seed=13)
        upload = await self.create(store, len(data) + 1)
        await self.append(upload, data)
        with pytest.raises(TusError, match="not complete"):
            await discarder.as_discardable_upload(upload).discard()
        await self.assert_offset(store, (await upload.get_info()).id, len(data))  # nothing lost

    async def test_terminate_a_finished_upload(self, store: Store) -> None:
        terminater = self.offered(store, "terminater")
        upload = await self.finished(store, pattern(self.SIZE, seed=8))
        uid = (await upload.get_info()).id
        await terminater.as_terminatable_upload(upload).terminate("expired")
        with pytest.raises(UploadGone):
            await store.get_upload(uid)
        assert await self.stored_size(store, uid) is None

    async def test_list_upload_ids_lists_live_uploads_only(self, store: Store) -> None:
        lister, terminater = self.offered(store, "lister"), self.offered(store, "terminater")
        uploads = [await self.create(store, 10) for _ in range(3)]
        ids = [(await u.get_info()).id for u in uploads]
        await terminater.as_terminatable_upload(uploads[1]).terminate("terminated")
        listed = [i async for i in lister.list_upload_ids()]
        assert (ids[0] in listed, ids[1] in listed, ids[2] in listed) == (True, False, True)
        assert len(listed) == len(set(listed))

    # -- large -----------------------------------------------------------------------------------
    async def test_large_upload_in_many_chunks_is_byte_identical(self, store: Store) -> None:
        data = pattern(self.LARGE_SIZE, seed=30)
        upload = await self.create(store, len(data))
        uid = (await upload.get_info()).id
        third = len(data) // 3 + 12345  # several PATCHes, none aligned to a chunk
        assert await self.append(upload, data[:third], self.LARGE_CHUNK) == third
        assert await self.append(upload, data[third:], self.LARGE_CHUNK) == len(data) - third
        await self.assert_offset(store, uid, len(data))
        await upload.finish()
        assert sha(await read_all(await store.get_upload(uid))) == sha(data)

    async def test_one_large_chunk_is_byte_identical(self, store: Store) -> None:
        data = pattern(self.SINGLE_CHUNK, seed=31)
        upload = await self.finished(store, data, chunk=len(data))
        assert sha(await read_all(upload)) == sha(data)

    # -- restart (stores that persist) -----------------------------------------------------------
    async def test_a_new_store_over_the_same_backend_sees_the_same_uploads(self, store: Store) -> None:
        data = pattern(self.SIZE, seed=40)
        done = await self.finished(store, data, metadata="filename YQ==")
        half = await self.create(store, len(data))
        await self.append(half, data[: len(data) // 2 + 1])
        again = await self.reopen(store)
        if again is None:
            pytest.skip(f"{store.name} does not persist across a restart")
        try:
            before = [await u.get_info() for u in (done, half)]
            after = [await (await again.get_upload(i.id)).get_info() for i in before]
            assert after == before
            resumed = await again.get_upload(before[1].id)
            await self.append(resumed, data[before[1].offset :])
            await resumed.finish()
            assert sha(await read_all(resumed)) == sha(data)
            assert sha(await read_all(await again.get_upload(before[0].id))) == sha(data)
        finally:
            await self.close_store(again)
