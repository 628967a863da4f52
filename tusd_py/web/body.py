"""The request body as the store sees it (``core.ports.RequestBody``), over aiohttp.

Four things end a body early, and none of them raises into the store (tusd's rule):
a client reset or early EOF, a silent client (read timeout), a client slower than
``min_rate`` bytes per ``rate_window`` seconds (a trickle that would hold a connection, a slot
and a store writer for days without ever falling silent), and a lock-release request from a
newer request for the same upload. The store then keeps every byte it was given.
Only "more bytes than allowed" raises, so the store can roll the whole request back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from ..protocol.errors import UploadSizeExceeded
from ..settings import Settings


class _BodyEnded(TimeoutError):
    """What is injected into the stream to end a body. A TimeoutError because of what aiohttp does
    after the response: it drains the rest of an unread body, and on a TimeoutError it stops and
    closes the connection quietly, while any other exception is logged with its traceback: one
    log record per ended body, which a client trickling bodies could turn into a flood."""


class _StopRequested(_BodyEnded):
    """Injected into the stream to wake a pending read when the lock must be released."""


class _SilentClient(_BodyEnded):
    """Injected into the stream when no byte arrived for ``read_timeout`` seconds."""


class _SlowClient(_BodyEnded):
    """Injected into the stream when a rate window delivered fewer than ``min_rate`` bytes."""


_NETWORK_ERRORS = (ConnectionError, OSError, ClientPayloadError, HttpProcessingError, asyncio.IncompleteReadError)


class AiohttpBody:
    def __init__(
        self, request: web.Request, *, read_timeout: float, min_rate: int = 0, rate_window: float = 30.0
    ) -> None:
        self._content = request.content
        self._read_timeout = read_timeout
        self._min_rate = min_rate  # bytes per rate_window; 0 = no minimum
        self._rate_window = rate_window
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

    @classmethod
    def from_settings(cls, request: web.Request, settings: Settings) -> AiohttpBody:
        """The body with the server's read timeout and minimum rate."""
        return cls(
            request,
            read_timeout=settings.server.read_timeout,
            min_rate=settings.server.min_body_rate,
            rate_window=settings.server.body_rate_window,
        )

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
        except _SlowClient:
            self.error = f"the body is slower than {self._min_rate} bytes per {self._rate_window:g}s"
        except _NETWORK_ERRORS as exc:
            self.error = f"connection lost: {exc.__class__.__name__}"
        finally:
            self._waiting_since = None
        return None

    def _watchdog(self) -> list[asyncio.TimerHandle]:
        """One timer re-armed each interval: no per-chunk timeout objects on the hot path. It also
        judges the rate at the end of each window, from ``received`` alone (no per-chunk clock).

        The first window, from the start of the body, is the grace. A window is held against the
        client only if the reader is waiting on the socket when it ends: then nothing is buffered,
        so what the store took in the window is at least what the client sent in it. A store that
        was busy instead (disk, S3) gets a fresh window, never the blame."""
        loop = asyncio.get_running_loop()
        interval = min(1.0, self._read_timeout / 4, self._rate_window / 4 if self._min_rate else 1.0)
        handles: list[asyncio.TimerHandle] = []
        window_end = loop.time() + self._rate_window
        window_start_received = self.received

        def check() -> None:
            nonlocal window_end, window_start_received
            since = self._waiting_since
            now = loop.time()
            if since is not None and now - since >= self._read_timeout:
                self._content.set_exception(_SilentClient())
                return
            if self._min_rate and now >= window_end:
                if since is not None and self.received - window_start_received < self._min_rate:
                    self._content.set_exception(_SlowClient())
                    return
                window_end, window_start_received = now + self._rate_window, self.received
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
