"""The request body as the store sees it (``core.ports.RequestBody``), over aiohttp.

Three things end a body early, and none of them raises into the store (tusd's rule):
a client reset or early EOF, a silent client (read timeout), and a lock-release request
from a newer request for the same upload. The store then keeps every byte it was given.
Only "more bytes than allowed" raises, so the store can roll the whole request back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from ..protocol.errors import UploadSizeExceeded


class _StopRequested(Exception):
    """Injected into the stream to wake a pending read when the lock must be released."""


class _SilentClient(Exception):
    """Injected into the stream when no byte arrived for ``read_timeout`` seconds."""


_NETWORK_ERRORS = (ConnectionError, OSError, ClientPayloadError, HttpProcessingError, asyncio.IncompleteReadError)


class AiohttpBody:
    def __init__(self, request: web.Request, *, read_timeout: float) -> None:
        self._content = request.content
        self._read_timeout = read_timeout
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        self.declared_length: int | None = None if chunked else (request.content_length or 0)
        # A body-less request gets aiohttp's one shared EmptyStreamReader, whose readchunk() answers
        # "empty, end of HTTP chunk" forever once any request has read it: never read from it.
        self._empty = not request.body_exists or self.declared_length == 0
        self.limit: int | None = None
        self.received = 0
        self.stopped = False
        self.error: str | None = None
        self._stop_requested = False
        self._waiting_since: float | None = None
        self._pending: bytes = b""

    def stop(self) -> None:
        if not self._stop_requested:
            self._stop_requested = True
            if self._waiting_since is not None:  # wake a read blocked on the socket (nothing is buffered)
                self._content.set_exception(_StopRequested())

    def _buffered(self) -> bytes:
        """What already arrived, without waiting: a stopped request still keeps it (tus-spec C23)."""
        try:
            return self._content.read_nowait()
        except Exception:  # the stream already ended or failed
            return b""

    async def has_data(self) -> bool:
        if self._empty:
            return False
        chunk = await self._read()
        self._pending = chunk or b""
        return bool(chunk)

    async def _read(self) -> bytes | None:
        """One chunk; b"" at a clean end; None when the body ended early (reason recorded).

        Every pass of the loop either returns or awaits the socket: an empty chunk that only
        marks an HTTP chunk boundary is skipped, and an empty chunk at EOF is the end."""
        if self._empty:
            return b""
        loop = asyncio.get_running_loop()
        self._waiting_since = loop.time()
        try:
            while True:
                # readchunk hands over one buffered chunk as it is; readany would join (copy)
                # everything that piled up meanwhile. An empty chunk that ends an HTTP chunk is not EOF.
                chunk, end_of_http_chunk = await self._content.readchunk()
                if chunk or not end_of_http_chunk or self._content.at_eof():
                    return chunk
        except _StopRequested:
            self.stopped = True
        except _SilentClient:
            self.error = f"no data for {self._read_timeout:g}s"
        except _NETWORK_ERRORS as exc:
            self.error = f"connection lost: {exc.__class__.__name__}"
        finally:
            self._waiting_since = None
        return None

    def _watchdog(self) -> list[asyncio.TimerHandle]:
        """One timer re-armed each interval: no per-chunk timeout objects on the hot path."""
        loop = asyncio.get_running_loop()
        interval = min(1.0, self._read_timeout / 4)
        handles: list[asyncio.TimerHandle] = []

        def check() -> None:
            since = self._waiting_since
            if since is not None and loop.time() - since >= self._read_timeout:
                self._content.set_exception(_SilentClient())
                return
            handles[0] = loop.call_later(interval, check)

        handles.append(loop.call_later(interval, check))
        return handles

    async def __aiter__(self) -> AsyncIterator[bytes]:
        timers = self._watchdog()
        try:
            while True:
                if self._pending:
                    chunk: bytes | None = self._pending
                    self._pending = b""
                else:
                    if self._stop_requested:
                        chunk = self._buffered()
                        if not chunk:
                            self.stopped = True
                            self._content.set_exception(_StopRequested())  # read nothing more from this client
                            return
                    else:
                        chunk = await self._read()
                if not chunk:
                    if chunk == b"" and self.declared_length and self.received < self.declared_length:
                        self.error = "the body ended before Content-Length"
                    return
                if self.limit is not None and self.received + len(chunk) > self.limit:
                    raise UploadSizeExceeded(f"the body is larger than the {self.limit} bytes left in this upload")
                self.received += len(chunk)
                yield chunk
        finally:
            timers[0].cancel()
