"""FileStore runs the store-conformance suite, plus what only a filesystem store promises:
the offset *is* the data file's size, the info file is replaced atomically, ids cannot
escape the data directory, and a crash or cancellation mid-write keeps every received byte."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.fakes import FakeBody, pattern, split
from tests.conformance.store_suite import KiB, StoreConformance, new_info, read_all
from tusd_py.core.ports import Store
from tusd_py.protocol.errors import UploadNotFound
from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.stores import filesystem
from tusd_py.stores.filesystem import FileStore, FileUpload


class TestFileStore(StoreConformance):
    @pytest.fixture(autouse=True)
    def _data_dir(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"

    async def make_store(self) -> Store:
        return FileStore(self.data_dir)

    async def stored_size(self, store: Store, upload_id: str) -> int | None:
        path = self.data_dir / "uploads" / upload_id
        return path.stat().st_size if path.exists() else None

    async def reopen(self, store: Store) -> Store | None:
        return FileStore(self.data_dir)  # what a restarted process builds


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "data")


async def create(store: FileStore, size: int | None, **fields: Any) -> FileUpload:
    return await store.create_upload(new_info(size, **fields))


async def test_a_restarted_store_lists_and_resumes_the_same_uploads(store: FileStore) -> None:
    data = pattern(300 * KiB)
    uploads = [await create(store, len(data)) for _ in range(3)]
    for i, upload in enumerate(uploads):
        await upload.write_chunk(0, FakeBody(split(data[: (i + 1) * 50 * KiB + i], 64 * KiB)))
    before = {u.id: (await u.get_info()).offset for u in uploads}

    again = FileStore(store.root.parent)
    assert sorted([i async for i in again.list_upload_ids()]) == sorted(before)
    for upload_id, offset in before.items():
        resumed = await again.get_upload(upload_id)
        assert (await resumed.get_info()).offset == offset == resumed.data_path.stat().st_size
        await resumed.write_chunk(offset, FakeBody(split(data[offset:], 64 * KiB)))
        await resumed.finish()
        assert await read_all(resumed) == data


async def test_the_offset_is_the_size_of_the_data_file(store: FileStore) -> None:
    upload = await create(store, 1000)
    await upload.write_chunk(0, FakeBody([b"a" * 600]))
    os.truncate(upload.data_path, 450)  # a torn write after a power cut: the disk, not the info, decides
    assert (await (await store.get_upload(upload.id)).get_info()).offset == 450
    await upload.write_chunk(450, FakeBody([b"b" * 550]))
    await upload.finish()
    assert upload.data_path.read_bytes() == b"a" * 450 + b"b" * 550


async def test_the_info_file_is_replaced_never_rewritten_in_place(store: FileStore) -> None:
    upload = await create(store, None)
    inode = upload.info_path.stat().st_ino
    await upload.declare_length(10)
    assert upload.info_path.stat().st_ino != inode  # a new file renamed over the old one
    assert json.loads(upload.info_path.read_text())["size"] == 10


async def test_an_update_that_fails_before_the_rename_keeps_the_old_info(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = await create(store, None)

    def crash(src: Any, dst: Any) -> None:
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(filesystem.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        await upload.declare_length(2000)
    monkeypatch.undo()
    assert UploadInfo.from_dict(json.loads(upload.info_path.read_text())).size is None
    assert (await (await store.get_upload(upload.id)).get_info()).size is None


async def test_readers_never_see_a_partial_info_file(store: FileStore) -> None:
    upload = await create(store, None, metadata="filename " + "QUJD" * 2000)  # a few KiB of JSON
    done = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not done.is_set():
            text = upload.info_path.read_text()
            try:
                json.loads(text)
            except ValueError:
                bad.append(text[:80])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            await upload.declare_length(i)
            await asyncio.sleep(0)
    finally:
        done.set()
        thread.join()
    assert bad == []
    assert (await upload.get_info()).size == 299


async def test_state_and_expiry_change_in_place_and_survive_a_restart(store: FileStore) -> None:
    upload = await create(store, 10, expires_at=1000.0)
    inode = upload.info_path.stat().st_ino
    await upload.set_expiry(2000.0)
    await upload.set_state(UploadState.COMPLETING)
    await upload.set_expiry(None)
    assert upload.info_path.stat().st_ino == inode  # no rename per transition
    again = await FileStore(store.root.parent).get_upload(upload.id)
    info = await again.get_info()
    assert (info.state, info.expires_at) == (UploadState.COMPLETING, None)
    await upload.declare_length(10)  # an info rewrite keeps what the state file says
    info = await (await FileStore(store.root.parent).get_upload(upload.id)).get_info()
    assert (info.state, info.expires_at, info.size) == (UploadState.COMPLETING, None, 10)
    await upload.terminate("terminated")
    assert sorted(p.name for p in store.root.iterdir()) == [f"{upload.id}.gone"]


async def test_a_torn_state_write_falls_back_to_the_previous_transition(store: FileStore) -> None:
    upload = await create(store, 10, expires_at=1000.0)
    await upload.set_state(UploadState.COMPLETING)  # sequence 1: slot 1
    await upload.set_state(UploadState.COMPLETED)  # sequence 2: slot 0
    state_path = store.root / f"{upload.id}.state"
    raw = bytearray(state_path.read_bytes())
    raw[3] ^= 0xFF  # a crash tore the newest slot
    state_path.write_bytes(bytes(raw))
    info = await upload.get_info()
    assert (info.state, info.expires_at) == (UploadState.COMPLETING, 1000.0)
    await upload.set_state(UploadState.COMPLETED)  # the retried transition writes a good slot
    assert (await upload.get_info()).state is UploadState.COMPLETED
    state_path.write_bytes(bytes(64))  # both slots unreadable: the info file's fields stand
    info = await upload.get_info()
    assert (info.state, info.expires_at) == (UploadState.RECEIVING, 1000.0)


async def test_readers_of_the_state_never_see_a_torn_or_older_one(store: FileStore) -> None:
    upload = await create(store, 10, expires_at=0.0)
    done = threading.Event()
    seen: list[float] = []

    def reader() -> None:
        while not done.is_set():
            record = filesystem.read_state(str(store.root / f"{upload.id}.state"))
            if record is not None and record.expires_at is not None:
                seen.append(record.expires_at)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 500):
            await upload.set_expiry(float(i))
            if i % 20 == 0:
                await asyncio.sleep(0.001)
    finally:
        done.set()
        thread.join()
    assert seen and seen == sorted(seen)  # never a value that goes backwards (torn or stale slot)
    assert (await upload.get_info()).expires_at == 499.0


@pytest.mark.parametrize("upload_id", ["../x", "a/b", ".", "..", "", "x.info", "/etc/passwd", "x\x00"])
async def test_ids_that_could_leave_the_data_directory_are_not_found(store: FileStore, upload_id: str) -> None:
    outside = store.root.parent  # ../x from the uploads directory: plant a valid upload there
    (outside / "x").write_bytes(b"secret")
    (outside / "x.info").write_text(json.dumps(new_info(6, storage={}).to_dict() | {"id": "x"}))
    with pytest.raises(UploadNotFound):
        await store.get_upload(upload_id)


class Blocked:
    """Holds FileStore's writer thread inside its write until released (a slow disk)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        real = filesystem._write_all

        def write(fd: int, data: bytes) -> None:
            self.entered.set()
            self.release.wait(10)
            real(fd, data)

        monkeypatch.setattr(filesystem, "_write_all", write)


@pytest.fixture
def blocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Blocked]:
    gate = Blocked(monkeypatch)
    yield gate
    gate.release.set()


async def test_a_cancelled_body_keeps_every_byte_received(store: FileStore) -> None:
    data = pattern(3 * 1024 * KiB + 5000)
    upload = await create(store, len(data) + 1000)
    body = FakeBody(split(data, 100 * KiB), exc=asyncio.CancelledError(), raise_after=len(split(data, 100 * KiB)))
    with pytest.raises(asyncio.CancelledError):
        await upload.write_chunk(0, body)
    assert body.sent == len(data)
    assert upload.data_path.read_bytes() == data
    assert (await (await store.get_upload(upload.id)).get_info()).offset == len(data)


async def test_a_task_cancelled_mid_stream_keeps_every_byte_received(store: FileStore) -> None:
    data = pattern(1536 * KiB + 7)  # one 1 MiB batch reaches the disk, the rest is still buffered
    upload = await create(store, 4 * len(data))
    body = FakeBody(split(data, 64 * KiB), hang_after=len(split(data, 64 * KiB)))
    task = asyncio.create_task(upload.write_chunk(0, body))
    await asyncio.wait_for(body.hanging.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert body.sent == len(data)
    assert upload.data_path.read_bytes() == data
    assert (await upload.get_info()).offset == len(data)


async def test_a_cancel_during_a_disk_write_neither_loses_nor_doubles_bytes(store: FileStore, blocked: Blocked) -> None:
    data = pattern(1536 * KiB + 11)
    upload = await create(store, 4 * len(data))
    body = FakeBody(split(data, 64 * KiB))
    task = asyncio.create_task(upload.write_chunk(0, body))
    await asyncio.get_running_loop().run_in_executor(None, blocked.entered.wait, 10)
    task.cancel()  # while the first 1 MiB batch is in the writer thread
    blocked.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    on_disk = upload.data_path.read_bytes()
    assert on_disk == data[: len(on_disk)] and len(on_disk) >= 1024 * KiB  # a prefix, nothing twice
    assert (await upload.get_info()).offset == len(on_disk)
    rest = FakeBody(split(data[len(on_disk) :], 64 * KiB))
    assert await upload.write_chunk(len(on_disk), rest) == len(data) - len(on_disk)
    assert upload.data_path.read_bytes() == data


async def test_terminate_and_purge_leave_nothing_behind(store: FileStore) -> None:
    upload = await create(store, 100)
    await upload.write_chunk(0, FakeBody([b"z" * 40]))
    await upload.terminate("terminated")
    assert sorted(p.name for p in store.root.iterdir()) == [f"{upload.id}.gone"]
    await store.purge_tombstones(older_than=float("inf"))
    assert list(store.root.iterdir()) == []


async def test_release_leaves_a_hole_of_the_same_size(store: FileStore) -> None:
    data = b"plaintext " * 50_000
    upload = await create(store, len(data))
    await upload.write_chunk(0, FakeBody(split(data, 64 * KiB)))
    await upload.release()
    stat = upload.data_path.stat()
    assert stat.st_size == len(data) and stat.st_blocks == 0  # no data blocks: no plaintext on disk
    assert b"plaintext" not in upload.data_path.read_bytes()
    assert sorted(p.name for p in store.root.iterdir()) == [upload.id, f"{upload.id}.info"]  # no temp left
