"""FileStore runs the store-conformance suite, plus what only a filesystem store promises:
the offset *is* the data file's size, one file per upload with its info an atomic SQLite row, ids cannot
escape the data directory, and a crash or cancellation mid-write keeps every received byte."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conformance.fakes import FakeBody, pattern, split
from tests.conformance.store_suite import KiB, StoreConformance, new_info, read_all
from tusd_py.completion import InProcessQueue
from tusd_py.core.ports import Store
from tusd_py.core.service import Limits, UploadService
from tusd_py.protocol.errors import InsufficientStorage, StorageUnavailable, UploadGone, UploadNotFound
from tusd_py.protocol.headers import parse_metadata
from tusd_py.protocol.info import UploadState
from tusd_py.state.memory import MemoryLocker
from tusd_py.stores import appender
from tusd_py.stores.filesystem import FileStore, FileUpload
from tusd_py.stores.written import WrittenInfos


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


async def test_an_upload_from_creation_to_hand_off_creates_one_file(store: FileStore) -> None:
    upload = await create(store, None, expires_at=1000.0)
    await upload.declare_length(10)
    await upload.write_chunk(0, FakeBody([b"0123456789"]))
    for state in (UploadState.COMPLETING, UploadState.COMPLETED, UploadState.HANDED_OFF):
        await upload.set_state(state)
    await upload.set_expiry(None)
    assert [p.name for p in store.root.iterdir()] == [upload.id]  # the data file; the info is a row
    again = await FileStore(store.root.parent).get_upload(upload.id)  # a restarted process
    info = await again.get_info()
    assert (info.size, info.offset, info.state, info.expires_at) == (10, 10, UploadState.HANDED_OFF, None)


async def test_a_small_upload_writes_its_info_once_per_state(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Created, completed (which ends the expiry), handed off: three writes of the info row.
    Each is a WAL commit with its lock calls, so there is no "completing" write: this store's
    finish() has nothing to assemble."""
    statements: list[str] = []
    run = store.db.run

    def counted(sql: str, args: tuple[object, ...] = ()) -> int:
        statements.append(sql.split()[0])
        return run(sql, args)

    monkeypatch.setattr(store.db, "run", counted)
    sink = InProcessQueue()
    service = UploadService(store, MemoryLocker(), sink, Limits(expiry_seconds=3600))
    _, created = await service.create(length=10, metadata=parse_metadata(None))
    assert created.expires_at is not None
    info = await service.append(created.id, 0, FakeBody([b"01234", b"56789"]))
    assert statements == ["INSERT", "UPDATE", "UPDATE"]
    assert (info.offset, info.state, info.expires_at) == (10, UploadState.HANDED_OFF, None)
    stored = await (await FileStore(store.root.parent).get_upload(created.id)).get_info()
    assert (stored.offset, stored.state, stored.expires_at) == (10, UploadState.HANDED_OFF, None)
    assert sink.enqueued == {created.id}


async def test_the_infos_this_store_wrote_are_read_back_without_a_query(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = await create(store, 10, expires_at=1000.0)
    await upload.write_chunk(0, FakeBody([b"01234"]))
    await upload.set_expiry(2000.0)
    queries: list[str] = []
    one = store.db.one
    monkeypatch.setattr(store.db, "one", lambda sql, args=(): queries.append(sql) or one(sql, args))
    info = await (await store.get_upload(upload.id)).get_info()
    assert (info.offset, info.size, info.expires_at) == (5, 10, 2000.0)
    assert queries == []
    elsewhere = await FileStore(store.root.parent).get_upload(upload.id)  # another process: the database
    assert (await elsewhere.get_info()).expires_at == 2000.0


async def test_written_infos_are_bounded_and_dropped_on_termination(store: FileStore) -> None:
    store.written = WrittenInfos(limit=2)
    uploads = [await create(store, 10, metadata=f"n {i}") for i in range(3)]
    assert uploads[0].id not in store.written and uploads[2].id in store.written
    assert (await (await store.get_upload(uploads[0].id)).get_info()).metadata == "n 0"  # read from the database
    await uploads[2].terminate("terminated")
    assert uploads[2].id not in store.written
    with pytest.raises(UploadGone):
        await store.get_upload(uploads[2].id)


async def test_a_failed_write_is_not_remembered(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = await create(store, 10)

    def broken(sql: str, args: tuple[object, ...] = ()) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store.db, "run", broken)
    with pytest.raises(StorageUnavailable):
        await upload.set_state(UploadState.COMPLETING)
    monkeypatch.undo()
    assert (await (await store.get_upload(upload.id)).get_info()).state is UploadState.RECEIVING


_KILLED_WRITER = """
import asyncio, os, signal, sys
from tusd_py.stores.filesystem import FileStore
from tusd_py.protocol.info import UploadState
async def main():
    store = FileStore(sys.argv[1])
    upload = await store.get_upload(sys.argv[2])
    await upload.set_state(UploadState.COMPLETING)
    await upload.set_expiry(None)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no exit handlers
asyncio.run(main())
"""


async def test_every_update_survives_a_kill_9_of_the_writer(store: FileStore) -> None:
    upload = await create(store, 10, expires_at=1000.0)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED_WRITER, str(store.root.parent), upload.id, cwd=Path(__file__).parents[2]
    )
    assert await proc.wait() == -9
    info = await (await FileStore(store.root.parent).get_upload(upload.id)).get_info()
    assert (info.state, info.expires_at) == (UploadState.COMPLETING, None)


async def test_readers_never_see_a_partial_or_older_info(store: FileStore) -> None:
    upload = await create(store, None, metadata="filename " + "QUJD" * 2000)  # a few KiB of JSON
    reader_store = FileStore(store.root.parent)  # its own connection, as another process has
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        while not done.is_set():
            try:
                row = reader_store.db.one("SELECT info FROM uploads WHERE id = ?", (upload.id,))
                assert row is not None
                size = json.loads(str(row[0]))["size"]  # a torn row would not parse
            except BaseException as exc:  # an assert in a thread would not fail the test
                errors.append(exc)
                return
            if size is not None:
                seen.append(size)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            await upload.declare_length(i)
            await asyncio.sleep(0)
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert seen and seen == sorted(seen)  # never a value that goes backwards
    assert (await upload.get_info()).size == 299


async def test_an_update_after_termination_does_not_bring_the_upload_back(store: FileStore) -> None:
    upload = await create(store, 10)
    stale = await store.get_upload(upload.id)
    await stale.get_info()
    await upload.terminate("expired")
    with pytest.raises(UploadGone):
        await stale.set_state(UploadState.COMPLETING)
    with pytest.raises(UploadGone):
        await store.get_upload(upload.id)


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
        real = appender._write_all

        def write(fd: int, data: bytes) -> None:
            self.entered.set()
            self.release.wait(10)
            real(fd, data)

        monkeypatch.setattr(appender, "_write_all", write)
        monkeypatch.setattr(appender, "INLINE_WRITES", False)  # a slow disk from the first byte


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


async def test_writes_go_inline_until_one_is_slow_then_to_a_thread(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pattern(4 * 1024 * KiB + 3)
    upload = await create(store, len(data))
    real, writers, clock = appender._write_all, [], [0.0]

    def write(fd: int, buffers: list[bytes]) -> None:
        writers.append(threading.current_thread())
        if len(writers) == 3:
            clock[0] += 0.02  # the kernel throttles dirty pages: this write takes 20 ms
        real(fd, buffers)

    monkeypatch.setattr(appender, "_write_all", write)
    # the appender's clock is ours: only the third write is slow, however busy the machine is
    monkeypatch.setattr(appender, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    assert await upload.write_chunk(0, FakeBody(split(data, 64 * KiB))) == len(data)
    main = threading.current_thread()
    assert writers[:3] == [main] * 3  # 64 KiB batches, written as they arrive
    assert len(writers) > 3 and main not in writers[3:]  # after the slow one: the writer thread
    assert upload.data_path.read_bytes() == data


@pytest.mark.parametrize("inline", [True, False])
async def test_a_full_disk_is_507_and_keeps_what_landed(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    data = pattern(3 * 1024 * KiB)
    upload = await create(store, len(data))
    real, calls = appender._write_all, []

    def write(fd: int, buffers: list[bytes]) -> None:
        calls.append(len(buffers))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, buffers)

    monkeypatch.setattr(appender, "_write_all", write)
    monkeypatch.setattr(appender, "INLINE_WRITES", inline)
    with pytest.raises(InsufficientStorage) as caught:
        await upload.write_chunk(0, FakeBody(split(data, 64 * KiB)))
    assert caught.value.status == 507 and "disk is full" in caught.value.message
    landed = upload.data_path.read_bytes()
    assert landed == data[: len(landed)] and len(landed) == (64 * KiB if inline else 1024 * KiB)
    assert (await upload.get_info()).offset == len(landed)  # the client resumes from there


async def test_a_database_error_is_503_not_a_crash(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = await create(store, 10)

    def locked(*args: Any) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store.db, "run", locked)
    with pytest.raises(StorageUnavailable, match="database is locked"):
        await upload.set_state(UploadState.COMPLETING)
    monkeypatch.undo()
    # the failed change is not remembered: the next update does not write it after all
    await upload.set_expiry(5.0)
    info = await (await FileStore(store.root.parent).get_upload(upload.id)).get_info()
    assert (info.state, info.expires_at) == (UploadState.RECEIVING, 5.0)


async def test_terminate_and_purge_leave_nothing_behind(store: FileStore) -> None:
    upload = await create(store, 100)
    await upload.write_chunk(0, FakeBody([b"z" * 40]))
    await upload.terminate("terminated")
    assert list(store.root.iterdir()) == []
    with pytest.raises(UploadGone):  # the tombstone answers 410 until purged
        await store.get_upload(upload.id)
    assert await store.purge_tombstones(older_than=float("inf")) == 1
    with pytest.raises(UploadNotFound):
        await store.get_upload(upload.id)


async def test_a_database_from_before_tombstone_owners_gains_the_column(tmp_path: Path) -> None:
    """Its old tombstones keep no owner (404 to every user); new ones record theirs, and a
    second process opening the same database meanwhile finds the column there."""
    tmp_path.joinpath("uploads").mkdir()
    with sqlite3.connect(tmp_path / "tusd.sqlite3") as db:
        db.execute("CREATE TABLE uploads (id TEXT PRIMARY KEY, info TEXT NOT NULL) WITHOUT ROWID")
        db.execute(
            "CREATE TABLE tombstones (id TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID"
        )
        db.execute("INSERT INTO tombstones VALUES ('old', 'terminated', 1.0)")
    store, again = FileStore(tmp_path), FileStore(tmp_path)
    with pytest.raises(UploadGone) as gone:
        await again.get_upload("old")
    assert gone.value.owner == ""
    upload = await store.create_upload(new_info(10, owner="alice"))
    await store.as_terminatable_upload(upload).terminate("terminated")
    with pytest.raises(UploadGone) as gone:
        await again.get_upload(upload.id)
    assert gone.value.owner == "alice"
    store.db.close()
    again.db.close()


async def test_discard_leaves_a_hole_of_the_same_size(store: FileStore) -> None:
    data = b"plaintext " * 50_000
    upload = await create(store, len(data))
    await upload.write_chunk(0, FakeBody(split(data, 64 * KiB)))
    await upload.discard()
    stat = upload.data_path.stat()
    assert stat.st_size == len(data) and stat.st_blocks == 0  # no data blocks: no plaintext on disk
    assert b"plaintext" not in upload.data_path.read_bytes()
    assert sorted(p.name for p in store.root.iterdir()) == [upload.id]  # no temp left


async def test_a_slow_file_creation_does_not_hold_up_the_event_loop(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new inode can take a millisecond and more (ext4 without a journal skips recently freed
    inodes): the data file is created in a thread while other requests are served."""
    from tusd_py.stores import filesystem

    create = filesystem._create

    def slow_create(*args: Any) -> None:
        threading.Event().wait(0.3)  # blocking, as the kernel would be
        create(*args)

    monkeypatch.setattr(filesystem, "_create", slow_create)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        upload = await store.create_upload(new_info(10))
    finally:
        task.cancel()
    assert ticks >= 10  # the loop ran on while the file was created
    assert upload.data_path.stat().st_size == 0 and (await upload.get_info()).offset == 0


async def test_a_creation_the_disk_refuses_leaves_nothing_behind(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk when the data file is made is 507; a row that cannot be written (503) takes
    its just-made data file with it: no orphan on disk that no listing would ever show."""
    from tusd_py.stores import filesystem

    real_open = os.open

    def full(path: str, flags: int, *args: Any) -> int:
        if flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, *args)

    with monkeypatch.context() as patch:
        patch.setattr(filesystem.os, "open", full)
        with pytest.raises(InsufficientStorage):
            await store.create_upload(new_info(10))

    def locked(*args: Any) -> int:
        raise sqlite3.OperationalError("database is locked")

    info = new_info(10)
    with monkeypatch.context() as patch:
        patch.setattr(store.db, "run", locked)
        with pytest.raises(StorageUnavailable, match="database is locked"):
            await store.create_upload(info)
    assert list(store.root.iterdir()) == []
    assert [uid async for uid in store.list_upload_ids()] == []
    with pytest.raises(UploadNotFound):
        await store.get_upload(info.id)
