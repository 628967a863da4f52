"""FileStore: the embedded default. One data file per upload; the infos in SQLite.

Under ``data_dir``:
    uploads/<id>    the bytes received so far; its size *is* the offset, so a crash (even
                    kill -9) can never make the offset claim more than is stored
    tusd.sqlite3    table ``uploads``: UploadInfo as JSON per id, each change one atomic
                    UPDATE; table ``tombstones``: terminated or expired ids and their owners
                    (answer 410 to the owner, 404 to anyone else); see ``filedb.py``

One new inode per upload (its data file): on ext4 an inode costs more than the bytes, so every
other change of an upload is a row update rather than a file (figures: docs/benchmarks.md).

Single-process only: the lock is in memory. Use the S3 store and Redis for several instances.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..core.diskspace import FreeSpace, SpaceGuard, statvfs_free
from ..core.ports import Body, TombstoneReason, Upload
from ..localdb import LocalDB
from ..protocol.errors import InsufficientStorage, TusError, UploadGone, UploadNotFound
from ..protocol.info import UploadInfo, UploadState
from . import filedb
from .appender import Appender
from .diskerrors import disk_errors
from .written import WrittenInfos

_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # always fullmatch: `$` would let "id\n" through
_READ = 1024 * 1024


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _create(db: LocalDB, path: str, upload_id: str, doc: str) -> None:
    """The data file, then its row: a crash in between leaves an orphan file, never an info
    without bytes, and a row that cannot be written takes its file with it (nothing would ever
    list it). Both release the GIL (the kernel, sqlite3_step), so from a thread they overlap
    the event loop's work."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    try:
        db.run("INSERT INTO uploads VALUES (?, ?)", (upload_id, doc))
    except BaseException:
        os.unlink(path)
        raise


def _sparse_replace(path: str, size: int) -> None:
    """Replace the data file with a hole of the same size: the offset (its size) stays, the file
    holds no data blocks, and no reader ever sees a half-replaced file (rename)."""
    tmp = f"{path}.{os.urandom(4).hex()}.hole"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class FileUpload:
    assembles = False  # finish() checks the data file's size; the bytes are already where they stay

    def __init__(self, store: FileStore, upload_id: str) -> None:
        self.store = store
        self.id = upload_id
        self._data = f"{store.root_dir}/{upload_id}"  # a str, not a Path: built on every request
        self._fetched: str | None = None  # the row get_upload() read, for the first get_info()

    @property
    def data_path(self) -> Path:
        return Path(self._data)

    def _read(self) -> UploadInfo:
        """A fresh copy of the info: this store's last write of it (only this process writes
        infos), else the row get_upload() read, else one SELECT; the offset from the data file."""
        doc, self._fetched = self._fetched, None
        info = self.store.written.get(self.id) if doc is None else None
        if info is None:
            if doc is None:
                with disk_errors("reading the upload's info"):
                    row = self.store.db.one("SELECT info FROM uploads WHERE id = ?", (self.id,))
                if row is None:
                    raise self.store.missing(self.id)
                doc = str(row[0])
            info = UploadInfo.from_dict(json.loads(doc))
        info.offset = self._stored_size()
        return info

    def _stored_size(self) -> int:
        """The offset: what the data file holds."""
        try:
            return os.stat(self._data).st_size
        except FileNotFoundError:
            raise self.store.missing(self.id) from None

    async def get_info(self) -> UploadInfo:
        return self._read()  # a stat, at most one indexed SELECT: cheaper inline than a thread hop

    async def _update(self, **changes: Any) -> None:
        info = self._read()  # a copy: if the write fails, the remembered info stays what is stored
        for key, value in changes.items():
            setattr(info, key, value)
        with disk_errors("saving the upload's info"):
            changed = self.store.db.run(
                "UPDATE uploads SET info = ? WHERE id = ?", (json.dumps(info.to_dict()), self.id)
            )
        if not changed:
            raise self.store.missing(self.id)  # terminated meanwhile
        self.store.written.put(info)

    async def declare_length(self, length: int) -> None:
        await self._update(size=length)

    async def set_expiry(self, expires_at: float | None) -> None:
        await self._update(expires_at=expires_at)

    async def set_state(self, state: UploadState) -> None:
        if state.finished:
            await self._update(state=state, expires_at=None)  # finished files do not expire
        else:
            await self._update(state=state)

    async def write_chunk(self, offset: int, body: Body) -> int:
        with disk_errors("writing the body"):  # ENOSPC: 507, and what landed stays (abandon)
            fd = os.open(self._data, os.O_WRONLY | os.O_APPEND)
            try:
                if os.fstat(fd).st_size != offset:
                    raise TusError(f"file store offset drifted for {self.id}")  # the lock makes this impossible
                out, space = Appender(fd), self.store.space
                try:
                    async for chunk in body:
                        out.add(chunk)
                        if out.size >= out.flush_at:
                            await space.claim(out.size)  # each batch, before it lands: the disk reserve
                            await out.flush()
                    await space.claim(out.size)
                    await out.close()
                except InsufficientStorage:  # the reserve: what landed stays, the refused batch never lands
                    out.discard()
                    await out.abandon(rollback_to=None)
                    raise
                except BaseException as exc:  # a protocol violation in the body undoes the whole request
                    await out.abandon(rollback_to=offset if isinstance(exc, TusError) else None)
                    raise
                return os.fstat(fd).st_size - offset  # what the disk holds, whatever the body claimed
            finally:
                os.close(fd)

    async def finish(self) -> None:
        info = self._read()  # its offset is the data file's size
        if info.size is not None and info.offset != info.size:
            raise TusError(f"stored size {info.offset} does not match Upload-Length {info.size}")

    async def discard(self) -> None:
        info = self._read()
        if info.size is None or info.offset != info.size:
            raise TusError(f"upload {self.id} is not complete: its bytes cannot be discarded")
        # Recorded first: the hole that replaces the bytes reads as zeros, which nothing may serve.
        await self._update(discarded=True)
        with disk_errors("discarding the upload's bytes"):
            await _in_thread(_sparse_replace, self._data, info.size)

    async def terminate(self, reason: TombstoneReason) -> None:
        with disk_errors("terminating the upload"):
            self.store.written.drop(self.id)
            filedb.bury(self.store.db, self.id, reason)
            self.data_path.unlink(missing_ok=True)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        try:
            f = open(self.data_path, "rb")  # noqa: ASYNC230 (open is cheap; reads go to a thread)
        except FileNotFoundError:  # terminated meanwhile (GET takes no lock)
            raise self.store.missing(self.id) from None
        with f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = await _in_thread(f.read, min(_READ, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk


class FileStore:
    name = "file"

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        max_upload_size: int = 2**62,
        disk_reserve: int = 0,
        free_space: FreeSpace = statvfs_free,
    ) -> None:
        self.root = Path(data_dir) / "uploads"
        self.root.mkdir(parents=True, exist_ok=True)
        self.root_dir = str(self.root)
        self.max_upload_size = max_upload_size
        # New uploads and new bytes stop (507) at disk_reserve bytes free: the database and the
        # uploads already under way still have room, and nothing fails half-written.
        self.space = SpaceGuard(self.root_dir, disk_reserve, free_space=free_space)
        self.db = filedb.open_db(data_dir)
        self.written = WrittenInfos()

    async def start(self) -> None:
        pass  # the constructor opened the database: the worker uses the store without an app

    async def close(self) -> None:
        self.db.close()

    async def ready(self) -> None:
        """Readiness (web/health.py): the uploads directory answers a stat, in a thread, so a
        hung mount never stalls the event loop."""
        await asyncio.to_thread(os.stat, self.root_dir)

    def missing(self, upload_id: str) -> TusError:
        with disk_errors("reading the tombstones"):
            owner = filedb.tombstone_owner(self.db, upload_id)
        if owner is not None:
            return UploadGone("the upload was terminated or has expired", owner=owner)
        return UploadNotFound(f"upload {upload_id} does not exist")

    async def create_upload(self, info: UploadInfo) -> FileUpload:
        upload = FileUpload(self, info.id)
        info.storage = {"type": "file", "path": upload._data}
        await self.space.claim((info.size or 0) if info.is_final else 0)  # a final upload: its copy too
        with disk_errors("creating the upload"):
            # In a thread: creating an inode can block (ext4 without a journal walks past
            # recently freed inodes; docs/benchmarks.md), and the event loop serves the other
            # uploads meanwhile.
            await _in_thread(_create, self.db, upload._data, info.id, json.dumps(info.to_dict()))
        self.written.put(info)
        return upload

    async def get_upload(self, upload_id: str) -> FileUpload:
        if not _ID.fullmatch(upload_id):
            raise UploadNotFound(f"upload {upload_id} does not exist")
        if upload_id in self.written:
            return FileUpload(self, upload_id)
        with disk_errors("reading the upload's info"):
            row = self.db.one("SELECT info FROM uploads WHERE id = ?", (upload_id,))
        if row is None:
            raise self.missing(upload_id)
        upload = FileUpload(self, upload_id)
        upload._fetched = str(row[0])  # one SELECT for get_upload() + get_info(), not two
        return upload

    # -- capabilities: every one of ports.py; an upload passed in is one of this store's
    def as_terminatable_upload(self, upload: Upload) -> FileUpload:
        return cast(FileUpload, upload)

    as_length_declarable_upload = as_expiring_upload = as_readable_upload = as_terminatable_upload
    as_discardable_upload = as_terminatable_upload

    async def concat(self, final: Upload, partials: list[Upload]) -> None:
        assert isinstance(final, FileUpload) and all(isinstance(p, FileUpload) for p in partials)
        paths = [p.data_path for p in partials if isinstance(p, FileUpload)]

        def copy() -> None:
            with open(final.data_path, "ab") as out:
                for path in paths:
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, out, _READ)

        with disk_errors("concatenating the partial uploads"):
            await asyncio.get_running_loop().run_in_executor(None, copy)

    async def list_upload_ids(self) -> AsyncIterator[str]:
        with disk_errors("listing the uploads"):
            rows = self.db.all("SELECT id FROM uploads")
        for (upload_id,) in rows:
            yield str(upload_id)

    async def purge_tombstones(self, older_than: float) -> int:
        with disk_errors("purging the tombstones"):
            return filedb.purge_tombstones(self.db, older_than)


if TYPE_CHECKING:
    from ..core import ports

    _: type[ports.Store] = FileStore
    _t: type[ports.Terminater] = FileStore
    _c: type[ports.Concater] = FileStore
    _d: type[ports.LengthDeferrer] = FileStore
    _e: type[ports.Expirer] = FileStore
    _r: type[ports.RangeReader] = FileStore
    _p: type[ports.PlaintextDiscarder] = FileStore
    _l: type[ports.UploadLister] = FileStore
