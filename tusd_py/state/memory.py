"""In-process lock for the embedded default: one asyncio lock per upload, with release requests.

A newcomer asks the holder to let go (the holder stops reading its body, saves what it
has and leaves), then waits for the release. This is what lets a client that noticed a
dead connection before the server did resume within a second, instead of hitting 423.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..protocol.errors import UploadLocked
from .release import ReleaseSignal


class MemoryLock(ReleaseSignal):
    def __init__(self) -> None:
        super().__init__()
        self.released = asyncio.Event()


class MemoryLocker:
    def __init__(self) -> None:
        self._held: dict[str, MemoryLock] = {}

    @asynccontextmanager
    async def lock(self, upload_id: str, *, timeout: float) -> AsyncIterator[MemoryLock]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (holder := self._held.get(upload_id)) is not None:
            holder.request_release()
            try:
                async with asyncio.timeout_at(deadline):
                    await holder.released.wait()
            except TimeoutError:
                raise UploadLocked("the upload is busy with another request; retry shortly") from None
        lock = MemoryLock()
        self._held[upload_id] = lock
        try:
            yield lock
        finally:
            del self._held[upload_id]
            lock.released.set()

    def is_locked(self, upload_id: str) -> bool:
        return upload_id in self._held

    async def close(self) -> None:
        pass  # nothing runs in the background
