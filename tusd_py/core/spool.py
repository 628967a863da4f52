"""Stage a checksummed body before any byte of it is committed (tus checksum, K7).

The body goes to a SpooledTemporaryFile (RAM up to a threshold, then disk) while it is
hashed. Only a verified body is replayed into the store; a mismatch or a partial body
is dropped whole, so a 460 never moves the offset.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from ..protocol.checksum import ExpectedChecksum
from .ports import Body

_IN_MEMORY = 8 * 1024 * 1024
_READ = 1024 * 1024


class SpooledBody:
    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self.size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        self._file.seek(0)
        while chunk := await loop.run_in_executor(None, self._file.read, _READ):
            yield chunk

    def close(self) -> None:
        self._file.close()


async def spool(body: Body, expected: ExpectedChecksum, *, tmp_dir: str | None = None) -> tuple[SpooledBody, bool]:
    """Read ``body`` to the end; return the staged copy and whether its digest matched."""
    hasher = expected.hasher()
    file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY, dir=tmp_dir)
    size = 0
    try:
        async for chunk in body:
            hasher.update(chunk)
            file.write(chunk)
            size += len(chunk)
    except BaseException:
        file.close()
        raise
    return SpooledBody(file, size), hasher.digest() == expected.digest
