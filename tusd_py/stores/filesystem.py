"""FileStore: the embedded default. One data file per upload, plus a JSON info file.

Layout under ``data_dir/uploads``:
    <id>        the bytes received so far; its size *is* the offset, so a crash
                (even kill -9) can never make the offset claim more than is stored
    <id>.info   UploadInfo as JSON, replaced atomically (write + rename)
    <id>.state  the state and expiry once they change: two CRC'd slots written in place in
                turn (filestate.py); where present it overrides those two fields of the info
    <id>.gone   tombstone of a terminated or expired upload (answers 410)

Single-process only: the lock is in memory. Use the S3 store and Redis for several instances.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.ports import Body, TombstoneReason, Upload
from ..protocol.errors import TusError, UploadGone, UploadNotFound
from ..protocol.info import UploadInfo, UploadState
from .filestate import StateRecord, read_state, write_state

_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_FLUSH = 1024 * 1024  # write in ~1 MiB batches off the event loop, one batch in flight
_READ = 1024 * 1024
_IOV_MAX = 512  # buffers per writev (Linux allows 1024)


def _write_all(fd: int, buffers: list[bytes]) -> None:
    """Append every buffer with writev: no join, no copy. A short write resumes where it stopped."""
    views = [memoryview(b) for b in buffers if b]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


def _read_file(path: str) -> bytes:
    # os-level calls: the info file is read several times per request, pathlib and a
    # TextIOWrapper cost more than the read itself
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = []
        while part := os.read(fd, 65536):
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write a new file and rename it over the old one: readers never see a partial info."""
    tmp = path + ".tmp"
    view = memoryview(json.dumps(data).encode())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _sparse_replace(path: str, size: int) -> None:
    """Replace the data file with a hole of the same size: the offset (its size) stays, the file
    holds no data blocks, and no reader ever sees a half-replaced file (rename)."""
    tmp = f"{path}.{os.urandom(4).hex()}.released"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class _Appender:
    """Appends a request body to one fd from a worker thread: a batch being filled, at most one
    write in flight, so reading the next batch overlaps writing the last. Bytes land strictly in
    order, and nothing is appended after a failed write: the file never has a hole."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.batch: list[bytes] = []
        self.size = 0
        self._flight: asyncio.Future[None] | None = None

    def add(self, chunk: bytes) -> None:
        self.batch.append(chunk)
        self.size += len(chunk)

    async def flush(self) -> None:
        """Hand the batch to a writer thread once the write before it has landed (raises its error)."""
        if self._flight is not None:
            await asyncio.shield(self._flight)  # on cancellation abandon() waits for it
        buffers, self.batch, self.size = self.batch, [], 0  # handed over: never written twice
        if buffers:
            self._flight = asyncio.get_running_loop().run_in_executor(None, _write_all, self.fd, buffers)

    async def close(self) -> None:
        """The rest of the body, and every write landed."""
        await self.flush()
        if self._flight is not None:
            await asyncio.shield(self._flight)

    async def abandon(self, *, rollback_to: int | None) -> None:
        """After an error or a cancellation: wait for the write in flight (its bytes must land
        before anything else is appended and before the fd is closed), then keep the rest of the
        batch, or truncate the file. A cancellation that arrives meanwhile is re-raised at the end."""
        cancelled, flight = False, self._flight
        while flight is not None and not flight.done():
            try:
                await asyncio.wait([flight])
            except asyncio.CancelledError:
                cancelled = True
        landed = flight is None or (not flight.cancelled() and flight.exception() is None)
        if rollback_to is not None:
            os.ftruncate(self.fd, rollback_to)
        elif landed and self.batch:
            _write_all(self.fd, self.batch)  # every byte received is kept, even when cancelled
        self.batch, self.size = [], 0
        if cancelled:
            raise asyncio.CancelledError


class FileUpload:
    def __init__(self, store: FileStore, upload_id: str) -> None:
        self.store = store
        self.id = upload_id
        self.data_path = store.root / upload_id
        self.info_path = store.root / f"{upload_id}.info"
        self._data, self._info = str(self.data_path), str(self.info_path)
        self._state = str(store.root / f"{upload_id}.state")
        # What this object last read or wrote. Only a lock holder writes info or state, so the
        # updates of one locked request start from it instead of rereading both files each time;
        # get_info() always rereads (the sweeper reads once outside the lock, then again inside).
        self._known: tuple[UploadInfo, StateRecord | None] | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _load_with_state(self) -> tuple[UploadInfo, StateRecord | None]:
        try:
            info = UploadInfo.from_dict(json.loads(_read_file(self._info)))
            info.offset = os.stat(self._data).st_size
        except FileNotFoundError:
            raise self.store.missing(self.id) from None
        record = read_state(self._state)
        if record is not None:
            info.state, info.expires_at = record.state, record.expires_at
        self._known = (info, record)
        return info, record

    def _load(self) -> UploadInfo:
        return copy.copy(self._load_with_state()[0])  # callers may change theirs; ours stays as stored

    async def get_info(self) -> UploadInfo:
        return self._load()  # a few small syscalls: cheaper inline than a thread hop

    async def _update(self, **changes: Any) -> None:
        info, record = self._known if self._known is not None else self._load_with_state()
        for key, value in changes.items():
            setattr(info, key, value)
        if changes.keys() <= {"state", "expires_at"}:
            # in place, no rename; the next write goes to the other slot
            record = write_state(self._state, record, info.state, info.expires_at)
        else:  # the info carries the current state and expiry too; a state file still agrees
            _write_json(self._info, info.to_dict())
        self._known = (info, record)

    async def declare_length(self, length: int) -> None:
        await self._update(size=length)

    async def set_expiry(self, expires_at: float | None) -> None:
        await self._update(expires_at=expires_at)

    async def set_state(self, state: UploadState) -> None:
        await self._update(state=state)

    async def write_chunk(self, offset: int, body: Body) -> int:
        fd = os.open(self._data, os.O_WRONLY | os.O_APPEND)
        try:
            if os.fstat(fd).st_size != offset:
                raise TusError(f"file store offset drifted for {self.id}")  # the lock makes this impossible
            out = _Appender(fd)
            try:
                async for chunk in body:
                    out.add(chunk)
                    if out.size >= _FLUSH:
                        await out.flush()
                await out.close()
            except BaseException as exc:  # a protocol violation in the body undoes the whole request
                await out.abandon(rollback_to=offset if isinstance(exc, TusError) else None)
                raise
            return os.fstat(fd).st_size - offset  # what the disk holds, whatever the body claimed
        finally:
            os.close(fd)

    async def finish(self) -> None:
        info = self._known[0] if self._known is not None else self._load()
        try:
            stored = os.stat(self._data).st_size
        except FileNotFoundError:
            raise self.store.missing(self.id) from None
        if info.size is not None and stored != info.size:
            raise TusError(f"stored size {stored} does not match Upload-Length {info.size}")

    async def release(self) -> None:
        info = self._load()
        if info.size is None or info.offset != info.size:
            raise TusError(f"upload {self.id} is not complete: its bytes cannot be released")
        await self._run(_sparse_replace, self._data, info.size)

    async def terminate(self, reason: TombstoneReason) -> None:
        _write_json(str(self.store.root / f"{self.id}.gone"), {"reason": reason, "at": time.time()})
        for path in (self.data_path, self.info_path, Path(self._state)):
            path.unlink(missing_ok=True)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        try:
            f = open(self.data_path, "rb")  # noqa: ASYNC230 (open is cheap; reads go to a thread)
        except FileNotFoundError:  # terminated meanwhile (GET takes no lock)
            raise self.store.missing(self.id) from None
        with f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = await self._run(f.read, min(_READ, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk


class FileStore:
    name = "file"

    def __init__(self, data_dir: str | os.PathLike[str], *, max_upload_size: int = 2**62) -> None:
        self.root = Path(data_dir) / "uploads"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_upload_size = max_upload_size

    def missing(self, upload_id: str) -> TusError:
        if (self.root / f"{upload_id}.gone").exists():
            return UploadGone("the upload was terminated or has expired")
        return UploadNotFound(f"upload {upload_id} does not exist")

    async def create_upload(self, info: UploadInfo) -> FileUpload:
        upload = FileUpload(self, info.id)
        info.storage = {"type": "file", "path": str(upload.data_path)}
        os.close(os.open(upload._data, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        _write_json(upload._info, info.to_dict())
        upload._known = (copy.copy(info), None)
        return upload

    async def get_upload(self, upload_id: str) -> FileUpload:
        if not _ID.match(upload_id):
            raise UploadNotFound(f"upload {upload_id} does not exist")
        if not (self.root / f"{upload_id}.info").exists():
            raise self.missing(upload_id)
        return FileUpload(self, upload_id)

    async def concat(self, final: Upload, partials: list[Upload]) -> None:
        assert isinstance(final, FileUpload) and all(isinstance(p, FileUpload) for p in partials)
        paths = [p.data_path for p in partials if isinstance(p, FileUpload)]

        def copy() -> None:
            with open(final.data_path, "ab") as out:
                for path in paths:
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, out, _READ)

        await asyncio.get_running_loop().run_in_executor(None, copy)

    async def list_upload_ids(self) -> AsyncIterator[str]:
        for path in self.root.glob("*.info"):
            yield path.name.removesuffix(".info")

    async def purge_tombstones(self, older_than: float) -> int:
        purged = 0
        for path in self.root.glob("*.gone"):
            if path.stat().st_mtime < older_than:
                path.unlink(missing_ok=True)
                purged += 1
        return purged


if TYPE_CHECKING:
    from ..core.ports import Store

    _: type[Store] = FileStore
