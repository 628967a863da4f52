"""Appending a request body to a data file: inline while the disk keeps up, else from a thread.

Used by the file store (filesystem.py). The bytes land strictly in order, and nothing is
appended after a failed write, so the data file never has a hole and its size stays the offset.
"""

from __future__ import annotations

import asyncio
import os
import time

# Writes start inline, each batch as soon as it holds 64 KiB: the bytes were just received and
# are still in the CPU cache, so the copy into the page cache is cheap (a thread writing 1 MiB
# batches copies memory that has left the cache; docs/benchmarks.md). One write slower than
# _SLOW_WRITE means the kernel is throttling dirty pages: the rest of the request goes to a
# writer thread in 1 MiB batches, one in flight, and the event loop never waits on the disk again.
INLINE_WRITES = True
_INLINE_FLUSH = 64 * 1024
_THREAD_FLUSH = 1024 * 1024
_SLOW_WRITE = 0.005  # seconds
_IOV_MAX = 512  # buffers per writev (Linux allows 1024)


def _write_all(fd: int, buffers: list[bytes]) -> None:
    """Append every buffer with writev: no join, no copy. A short write resumes where it stopped."""
    if len(buffers) == 1:  # the usual case: network reads are larger than a batch
        view = memoryview(buffers[0])
        while view:
            view = view[os.write(fd, view) :]
        return
    views = [memoryview(b) for b in buffers if b]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


class Appender:
    """Appends a request body to one fd: a batch being filled, written inline while the disk
    keeps up, else from a worker thread with at most one write in flight (reading the next batch
    overlaps writing the last). Bytes land strictly in order, and nothing is appended after a
    failed write: the file never has a hole."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.batch: list[bytes] = []
        self.size = 0
        self.inline = INLINE_WRITES
        self.flush_at = _INLINE_FLUSH if self.inline else _THREAD_FLUSH
        self._flight: asyncio.Future[None] | None = None

    def add(self, chunk: bytes) -> None:
        self.batch.append(chunk)
        self.size += len(chunk)

    async def flush(self) -> None:
        """Hand the batch to a writer thread once the write before it has landed (raises its error)."""
        if self._flight is not None:
            await asyncio.shield(self._flight)  # on cancellation abandon() waits for it
        buffers, self.batch, self.size = self.batch, [], 0  # handed over: never written twice
        if buffers and self.inline:
            started = time.perf_counter()
            _write_all(self.fd, buffers)
            if time.perf_counter() - started > _SLOW_WRITE:
                self.inline, self.flush_at = False, _THREAD_FLUSH
            return
        if buffers:
            self._flight = asyncio.get_running_loop().run_in_executor(None, _write_all, self.fd, buffers)

    def discard(self) -> None:
        """Drop the batch being filled: those bytes are never written (the disk reserve refused them)."""
        self.batch, self.size = [], 0

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
