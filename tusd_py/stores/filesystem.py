"""FileStore: the embedded default. One data file per upload, plus a JSON info file.

Layout under ``data_dir/uploads``:
    <id>        the bytes received so far; its size *is* the offset, so a crash
                (even kill -9) can never make the offset claim more than is stored
    <id>.info   UploadInfo as JSON, replaced atomically (write + rename)
    <id>.gone   tombstone of a terminated or expired upload (answers 410)

Single-process only: the lock is in memory. Use the S3 store and Redis for several instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.ports import Body, TombstoneReason, Upload
from ..protocol.errors import TusError, UploadGone, UploadNotFound
from ..protocol.info import UploadInfo, UploadState

_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_FLUSH = 1024 * 1024  # write in ~1 MiB batches off the event loop
_READ = 1024 * 1024


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


async def _in_thread(fn: Callable[[int, bytes], None], fd: int, data: bytes) -> None:
    """Run a write in a thread. If the task is cancelled meanwhile, wait for the thread anyway:
    its bytes must land before anything else is appended, and before the fd is closed."""
    future = asyncio.get_running_loop().run_in_executor(None, fn, fd, data)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieve it: a failed write shows in the file size, the offset
        raise


class FileUpload:
    def __init__(self, store: FileStore, upload_id: str) -> None:
        self.store = store
        self.id = upload_id
        self.data_path = store.root / upload_id
        self.info_path = store.root / f"{upload_id}.info"

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _load(self) -> UploadInfo:
        try:
            info = UploadInfo.from_dict(json.loads(self.info_path.read_text()))
            info.offset = self.data_path.stat().st_size
        except FileNotFoundError:
            raise self.store.missing(self.id) from None
        return info

    async def get_info(self) -> UploadInfo:
        return self._load()  # two small syscalls: cheaper inline than a thread hop

    async def _update(self, **changes: Any) -> None:
        info = self._load()
        for key, value in changes.items():
            setattr(info, key, value)
        _write_json(self.info_path, info.to_dict())

    async def declare_length(self, length: int) -> None:
        await self._update(size=length)

    async def set_expiry(self, expires_at: float | None) -> None:
        await self._update(expires_at=expires_at)

    async def set_state(self, state: UploadState) -> None:
        await self._update(state=state)

    async def write_chunk(self, offset: int, body: Body) -> int:
        fd = os.open(self.data_path, os.O_WRONLY | os.O_APPEND)
        try:
            if os.fstat(fd).st_size != offset:
                raise TusError(f"file store offset drifted for {self.id}")  # the lock makes this impossible
            batch, batched = list[bytes](), 0
            try:
                async for chunk in body:
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= _FLUSH:
                        data, batch, batched = b"".join(batch), [], 0  # handed over: never written twice
                        await _in_thread(_write_all, fd, data)
            except TusError:  # a protocol violation in the body: the whole request is undone
                batch = []
                os.ftruncate(fd, offset)
                raise
            finally:
                if batch:  # every byte received is kept, even when the request is cancelled
                    _write_all(fd, b"".join(batch))
            return os.fstat(fd).st_size - offset  # what the disk holds, whatever the body claimed
        finally:
            os.close(fd)

    async def finish(self) -> None:
        size = self.data_path.stat().st_size
        info = self._load()
        if info.size is not None and size != info.size:
            raise TusError(f"stored size {size} does not match Upload-Length {info.size}")

    async def terminate(self, reason: TombstoneReason) -> None:
        _write_json(self.store.root / f"{self.id}.gone", {"reason": reason, "at": time.time()})
        for path in (self.data_path, self.info_path):
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
        upload.data_path.touch(exist_ok=False)
        _write_json(upload.info_path, info.to_dict())
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
