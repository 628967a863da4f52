"""A fake request body for store tests: ``core.ports.RequestBody`` without a socket.

It feeds the given chunks, then ends in one of the ways a real body ends:

* cleanly (``FakeBody(chunks)``);
* early, like a client that vanished: ``FakeBody(chunks, vanish_after=n)`` yields ``n``
  chunks and stops *normally* with ``error`` set, as ``web/body.py`` does on a reset;
* with a protocol violation: ``FakeBody(chunks, raise_after=n)`` yields ``n`` chunks and
  raises ``UploadSizeExceeded`` (or ``exc=`` any exception, e.g. ``CancelledError``);
* hanging: ``FakeBody(chunks, hang_after=n)`` yields ``n`` chunks and then waits forever,
  so a test can cancel the writing task mid-stream (a crash or a dropped request task).

``sent`` counts the bytes handed to the store, so a test can check that none were lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from tusd_py.core.ports import RequestBody
from tusd_py.protocol.errors import UploadSizeExceeded


def split(data: bytes, size: int) -> list[bytes]:
    """``data`` in ``size``-byte chunks (the last one shorter)."""
    return [data[pos : pos + size] for pos in range(0, len(data), size)]


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes where every offset differs from its neighbours, so a shifted,
    duplicated or dropped chunk shows up in a comparison."""
    block = bytes((i * 7 + seed * 13 + (i >> 8)) & 0xFF for i in range(65_521))  # prime length: no aligned repeats
    return (block * (size // len(block) + 1))[:size]


class FakeBody:
    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        raise_after: int | None = None,
        exc: BaseException | None = None,
        vanish_after: int | None = None,
        hang_after: int | None = None,
        declared_length: int | None = -1,
    ) -> None:
        self.chunks = list(chunks)
        self.declared_length = sum(map(len, self.chunks)) if declared_length == -1 else declared_length
        self.limit: int | None = None
        self.stopped = False
        self.error: str | None = None
        self.sent = 0
        self.hanging = asyncio.Event()  # set once a hanging body has handed over its chunks
        self._raise_after = raise_after
        self._exc = exc
        self._vanish_after = vanish_after
        self._hang_after = hang_after
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def has_data(self) -> bool:
        return any(self.chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self._raise_after:
                raise self._exc if self._exc is not None else UploadSizeExceeded("more bytes than allowed")
            if index == self._vanish_after:
                self.error = "connection lost: ConnectionResetError"
                return
            if index == self._hang_after:
                break
            if self._stop.is_set():
                self.stopped = True
                return
            if self.limit is not None and self.sent + len(chunk) > self.limit:
                raise UploadSizeExceeded(f"the body is larger than the {self.limit} bytes left")
            self.sent += len(chunk)
            yield chunk
            await asyncio.sleep(0)  # let other tasks run between chunks, as a socket would
        if self._raise_after is not None and self._raise_after >= len(self.chunks):
            raise self._exc if self._exc is not None else UploadSizeExceeded("more bytes than allowed")
        if self._hang_after is not None:
            self.hanging.set()
            await asyncio.Event().wait()  # only cancellation ends this


if TYPE_CHECKING:
    _: type[RequestBody] = FakeBody
