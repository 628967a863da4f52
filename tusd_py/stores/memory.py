"""MemoryStore: uploads in a dict. For tests and throwaway development servers only."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from ..core.ports import Body, TombstoneReason, Upload
from ..protocol.errors import TusError, UploadGone, UploadNotFound
from ..protocol.info import UploadInfo, UploadState


class MemoryUpload:
    assembles = False

    def __init__(self, store: MemoryStore, info: UploadInfo) -> None:
        self.store = store
        self.id = info.id

    def _entry(self) -> tuple[UploadInfo, bytearray]:
        try:
            return self.store.uploads[self.id]
        except KeyError:
            raise self.store.missing(self.id) from None

    async def get_info(self) -> UploadInfo:
        info, data = self._entry()
        return replace(info, offset=len(data), partial_ids=list(info.partial_ids), storage=dict(info.storage))

    async def write_chunk(self, offset: int, body: Body) -> int:
        _, data = self._entry()
        if len(data) != offset:
            raise TusError(f"memory store offset drifted for {self.id}")
        try:
            async for chunk in body:
                data += chunk
        except TusError:
            del data[offset:]
            raise
        return len(data) - offset

    async def declare_length(self, length: int) -> None:
        self._entry()[0].size = length

    async def set_expiry(self, expires_at: float | None) -> None:
        self._entry()[0].expires_at = expires_at

    async def set_state(self, state: UploadState) -> None:
        info = self._entry()[0]
        info.state = state
        if state.finished:
            info.expires_at = None  # finished files do not expire

    async def finish(self) -> None:
        info, data = self._entry()
        if info.size is not None and len(data) != info.size:
            raise TusError(f"stored size {len(data)} does not match Upload-Length {info.size}")

    async def discard(self) -> None:
        info = await self.get_info()
        if info.size is None or info.offset != info.size:
            raise TusError(f"upload {self.id} is not complete: its bytes cannot be discarded")
        # the bytes are kept (process memory is not storage at rest, and tests read them
        # afterwards), but the upload says what the other stores say: its plaintext is gone
        self._entry()[0].discarded = True

    async def terminate(self, reason: TombstoneReason) -> None:
        info, _ = self._entry()
        del self.store.uploads[self.id]
        self.store.tombstones[self.id] = (time.time(), info.owner)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        _, data = self._entry()
        for pos in range(start, end, 1024 * 1024):
            yield bytes(data[pos : min(end, pos + 1024 * 1024)])


class MemoryStore:
    name = "memory"

    def __init__(self, *, max_upload_size: int = 2**62) -> None:
        self.max_upload_size = max_upload_size
        self.uploads: dict[str, tuple[UploadInfo, bytearray]] = {}
        self.tombstones: dict[str, tuple[float, str]] = {}  # id -> (when, the upload's owner)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def missing(self, upload_id: str) -> TusError:
        if (tombstone := self.tombstones.get(upload_id)) is not None:
            return UploadGone("the upload was terminated or has expired", owner=tombstone[1])
        return UploadNotFound(f"upload {upload_id} does not exist")

    async def create_upload(self, info: UploadInfo) -> MemoryUpload:
        info.storage = {"type": "memory"}
        self.uploads[info.id] = (replace(info), bytearray())
        return MemoryUpload(self, info)

    async def get_upload(self, upload_id: str) -> MemoryUpload:
        if upload_id not in self.uploads:
            raise self.missing(upload_id)
        return MemoryUpload(self, self.uploads[upload_id][0])

    # -- capabilities: every one of ports.py; an upload passed in is one of this store's
    def as_terminatable_upload(self, upload: Upload) -> MemoryUpload:
        return cast(MemoryUpload, upload)

    as_length_declarable_upload = as_expiring_upload = as_readable_upload = as_terminatable_upload
    as_discardable_upload = as_terminatable_upload

    async def concat(self, final: Upload, partials: list[Upload]) -> None:
        target = self.uploads[(await final.get_info()).id][1]
        for partial in partials:
            target += self.uploads[(await partial.get_info()).id][1]

    async def list_upload_ids(self) -> AsyncIterator[str]:
        for upload_id in list(self.uploads):
            yield upload_id

    async def purge_tombstones(self, older_than: float) -> int:
        old = [k for k, (at, _) in self.tombstones.items() if at < older_than]
        for key in old:
            del self.tombstones[key]
        return len(old)


if TYPE_CHECKING:
    from ..core import ports

    _: type[ports.Store] = MemoryStore
    _t: type[ports.Terminater] = MemoryStore
    _c: type[ports.Concater] = MemoryStore
    _d: type[ports.LengthDeferrer] = MemoryStore
    _e: type[ports.Expirer] = MemoryStore
    _r: type[ports.RangeReader] = MemoryStore
    _p: type[ports.PlaintextDiscarder] = MemoryStore
    _l: type[ports.UploadLister] = MemoryStore
