"""Stage a checksummed body before any byte of it is committed (tus checksum, K7).

The body is hashed while it is staged: in RAM up to a threshold, then in a temp file. Only a
verified body is replayed into the store; a mismatch or a partial body is dropped whole, so a
460 never moves the offset.

RAM for staging is one budget across all requests (``StagingBudget``, TUSD_STAGING_MEMORY):
each request takes at most ``_IN_MEMORY`` of it, and only what its Content-Length needs, so
many concurrent checksummed PATCHes cannot take the server's memory; a request that finds the
budget spent stages in a file from its first byte. Nobody waits for the budget: waiting would
let slow clients stall fast ones. The staging file's bytes are claimed against the disk
reserve of the staging directory (``SpaceGuard``), so staging cannot fill that disk either.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from ..protocol.checksum import ExpectedChecksum
from .diskspace import SpaceGuard
from .ports import Body

_IN_MEMORY = 8 * 1024 * 1024  # one request's RAM at most
_READ = 1024 * 1024


def _temp_file(tmp_dir: str | None, staged: bytes) -> IO[bytes]:
    file = tempfile.TemporaryFile(dir=tmp_dir)
    file.write(staged)
    return file


class StagingBudget:
    """Bytes of RAM for staged bodies, shared by every request of one service."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.available = total
        self.peak = 0  # most bytes in use at once (for tests and diagnostics)
        self.spilled = 0  # bodies that did not fit in their grant and went to a temp file

    @property
    def in_use(self) -> int:
        return self.total - self.available

    def take(self, wanted: int) -> int:
        granted = min(wanted, self.available)
        self.available -= granted
        self.peak = max(self.peak, self.in_use)
        return granted

    def give(self, granted: int) -> None:
        self.available += granted


class SpooledBody:
    """A staged body: bytes in RAM (within its grant of the budget), or a temp file."""

    def __init__(self, budget: StagingBudget, granted: int, tmp_dir: str | None, disk: SpaceGuard | None) -> None:
        self._budget, self._granted = budget, granted
        self._tmp_dir, self._disk = tmp_dir, disk
        self._ram: io.BytesIO | None = io.BytesIO()
        self._file: IO[bytes] | None = None
        self.size = 0

    @property
    def in_file(self) -> bool:
        return self._file is not None

    async def write(self, chunk: bytes) -> None:
        if self._ram is not None and self.size + len(chunk) <= self._granted:
            self._ram.write(chunk)
        else:
            if self._disk is not None:  # 507 before the staging file eats into the reserve
                await self._disk.claim(len(chunk) + (self.size if self._file is None else 0))
            if self._file is None:
                await self._roll_over()
            assert self._file is not None
            self._file.write(chunk)
        self.size += len(chunk)

    async def _roll_over(self) -> None:
        """Move what is in RAM to a new temp file (in a thread: a new inode and up to 8 MiB of
        writing), then hand the RAM back to the budget."""
        staged = self._ram.getvalue() if self._ram is not None else b""
        self._file = await asyncio.get_running_loop().run_in_executor(None, _temp_file, self._tmp_dir, staged)
        self._budget.spilled += 1
        self._ram = None
        self._give_back()

    def _give_back(self) -> None:
        self._budget.give(self._granted)
        self._granted = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._ram is not None:  # in RAM: no thread hop per chunk
            self._ram.seek(0)
            while chunk := self._ram.read(_READ):
                yield chunk
            return
        assert self._file is not None
        loop = asyncio.get_running_loop()
        self._file.seek(0)
        while chunk := await loop.run_in_executor(None, self._file.read, _READ):
            yield chunk

    def close(self) -> None:
        """Free the RAM or the temp file. Idempotent; every path out of a request calls it."""
        self._ram = None
        if self._file is not None:
            self._file.close()
        self._give_back()


async def spool(
    body: Body,
    expected: ExpectedChecksum,
    *,
    budget: StagingBudget,
    size_hint: int | None = None,
    tmp_dir: str | None = None,
    disk: SpaceGuard | None = None,
) -> tuple[SpooledBody, bool]:
    """Read ``body`` to the end; return the staged copy and whether its digest matched.
    ``size_hint`` (the Content-Length) keeps a small body from reserving a whole 8 MiB."""
    hasher = expected.hasher()
    wanted = _IN_MEMORY if size_hint is None else min(_IN_MEMORY, size_hint)
    staged = SpooledBody(budget, budget.take(wanted), tmp_dir, disk)
    try:
        async for chunk in body:
            hasher.update(chunk)
            await staged.write(chunk)
    except BaseException:  # a refused claim, a body over its limit, a cancellation: nothing kept
        staged.close()
        raise
    return staged, hasher.digest() == expected.digest
