"""A catalogue in memory: the ``Catalogue`` port as the SQL catalogue keeps it, for the core's and
the handlers' tests (``tusd_py/db`` has the real one; the contract is ``tusd_py/core/catalogue.py``)."""

from __future__ import annotations

import time

from tusd_py.core.catalogue import Entry, Usage
from tusd_py.protocol.info import UploadInfo


class MemoryCatalogue:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.partial: set[str] = set()
        self.calls: list[tuple[str, str]] = []  # (operation, upload id), to count what the core says

    def _entry(self, info: UploadInfo, created_at: float) -> Entry:
        meta = info.meta()
        return Entry(
            upload_id=info.id,
            owner=info.owner,
            name=meta.text("filename") or meta.text("name") or "",
            filetype=meta.text("filetype") or "",
            size=info.size,
            state=str(info.state),
            created_at=created_at,
            updated_at=time.time(),
        )

    async def created(self, info: UploadInfo) -> None:
        self.calls.append(("created", info.id))
        self.entries[info.id] = self._entry(info, info.created_at)
        if info.is_partial:
            self.partial.add(info.id)

    async def updated(self, info: UploadInfo) -> None:
        self.calls.append(("updated", info.id))
        if (old := self.entries.get(info.id)) is not None:
            self.entries[info.id] = self._entry(info, old.created_at)

    async def terminated(self, upload_id: str) -> None:
        self.calls.append(("terminated", upload_id))
        self.entries.pop(upload_id, None)

    async def usage(self, owner: str) -> Usage:
        mine = [e for e in self.entries.values() if e.owner == owner]
        unfinished = [e for e in mine if e.state not in ("completed", "handed_off")]
        return Usage(sum(e.size or 0 for e in mine), len(unfinished))

    async def page(self, owner: str, *, before: str | None, limit: int) -> tuple[list[Entry], str | None]:
        listed = sorted(
            (
                e
                for e in self.entries.values()
                if e.owner == owner and e.upload_id not in self.partial and e.state in ("completed", "handed_off")
            ),
            key=lambda e: (e.created_at, e.upload_id),
            reverse=True,
        )
        start = 0
        if before is not None:
            ids = [e.upload_id for e in listed]
            if before not in ids:
                raise ValueError(f"unknown cursor {before!r}")
            start = ids.index(before) + 1
        chunk = listed[start : start + limit]
        more = start + limit < len(listed)
        return chunk, (chunk[-1].upload_id if more and chunk else None)

    async def ids(self, owner: str) -> list[str]:
        return [e.upload_id for e in self.entries.values() if e.owner == owner]
