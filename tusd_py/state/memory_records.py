"""The upload records in a dict (the ``UploadRecords`` contract of ``records.py``), for the S3
store in a single process without Redis (TUSD_REDIS_URL empty)."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..protocol.info import UploadState
from .records import PartRecord, UploadRecord


class MemoryUploadRecords:
    """The same contract in a dict, for a single process without Redis."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[UploadRecord, list[PartRecord]]] = {}
        self.live: dict[str, float] = {}
        self.tombstones: dict[str, tuple[float, str]] = {}  # id -> (when, the upload's owner)

    async def put(self, record: UploadRecord, parts: list[PartRecord]) -> None:
        self.records[record.info.id] = (copy.deepcopy(record), list(parts))
        state = record.info.state
        if not state.finished or (state is UploadState.COMPLETED and not record.info.is_partial):
            self.live[record.info.id] = record.info.created_at

    async def get(self, upload_id: str) -> UploadRecord | None:
        entry = self.records.get(upload_id)
        return copy.deepcopy(entry[0]) if entry else None

    async def parts(self, upload_id: str) -> list[PartRecord]:
        entry = self.records.get(upload_id)
        return list(entry[1]) if entry else []

    async def commit(
        self, upload_id: str, *, expect: int, keep: int, add: list[PartRecord], tail: int, offset: int
    ) -> bool:
        if (entry := self.records.get(upload_id)) is None or entry[0].parts != expect:
            return False
        record, parts = entry
        parts[keep:] = add
        record.parts, record.tail, record.info.offset = keep + len(add), tail, offset
        return True

    async def set_size(self, upload_id: str, size: int) -> bool:
        if (entry := self.records.get(upload_id)) is None:
            return False
        entry[0].info.size = size
        return True

    async def set_state(self, upload_id: str, state: UploadState) -> bool:
        if (entry := self.records.get(upload_id)) is None:
            return False
        entry[0].info.state = state
        if state.finished:
            entry[0].info.expires_at = None  # finished files do not expire
            entry[1].clear()
        return True

    async def set_expiry(self, upload_id: str, expires_at: float | None) -> bool:
        if (entry := self.records.get(upload_id)) is None:
            return False
        entry[0].info.expires_at = expires_at
        return True

    async def set_discarded(self, upload_id: str, discarded: bool) -> bool:
        if (entry := self.records.get(upload_id)) is None:
            return False
        entry[0].info.discarded = discarded
        return True

    async def forget(self, upload_id: str) -> None:
        self.live.pop(upload_id, None)

    async def delete(self, upload_id: str, *, tombstone_ttl: float, owner: str) -> None:
        self.records.pop(upload_id, None)
        self.live.pop(upload_id, None)
        self.tombstones[upload_id] = (time.time(), owner)

    async def tombstone_owner(self, upload_id: str) -> str | None:
        tombstone = self.tombstones.get(upload_id)
        return None if tombstone is None else tombstone[1]

    async def list_ids(self) -> AsyncIterator[str]:
        for upload_id in list(self.live):
            yield upload_id

    async def purge_tombstones(self, older_than: float) -> int:
        old = [key for key, (at, _) in self.tombstones.items() if at < older_than]
        for key in old:
            del self.tombstones[key]
        return len(old)


if TYPE_CHECKING:
    from .records import UploadRecords

    _memory: type[UploadRecords] = MemoryUploadRecords
