"""The listening socket of ``tusd-py serve``, with at most ``TUSD_MAX_CONNECTIONS`` open client
connections.

aiohttp accepts every connection it is offered, and each costs a file descriptor and a request
handler until the client closes it or its keep-alive times out. A client that opens connections
and sends nothing would take every descriptor, and then ``accept()`` fails for everyone (asyncio
stops accepting for a second at each EMFILE). So the protocol factory of the listening socket
counts the connections aiohttp holds; beyond the cap a connection is answered at once with a
complete ``503`` (``Retry-After``, ``Connection: close``) and closed, never handed to aiohttp
and never left hanging. The count is taken where the connection is accepted and given back in
``connection_lost``, so a closed connection stops counting at once, however it ended.

The cost on the request path is one forwarding call per ``data_received`` (a 64 KiB chunk),
and nothing at all with the cap off (``TUSD_MAX_CONNECTIONS=0`` serves aiohttp's own factory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

import structlog
from aiohttp import web

from ..keys import OBSERVER
from ..protocol.constants import H_TUS_RESUMABLE, TUS_RESUMABLE
from ..server_settings import ServerSettings

log = structlog.get_logger("tusd_py.web")

LINGER = 2.0  # seconds a refused connection keeps reading, so closing it sends FIN, not RST
LINGER_MAX = 64  # refused connections lingering at once; beyond, they are closed at once
LOG_EVERY = 60.0  # seconds between two warnings about refused connections
SPARE_DESCRIPTORS = 256  # files, the database, the pool's pipes... beside the client connections
KEEPALIVE_TIMEOUT = 75.0  # seconds an idle connection stays open (web.run_app's default)


def refusal(limit: int, retry_after: int) -> bytes:
    """The whole answer to a connection beyond the cap, written before anything is read."""
    body = (
        f"ERR_SERVER_BUSY: {limit} connections are open, the most this server accepts "
        f"(TUSD_MAX_CONNECTIONS); retry in {retry_after}s\n"
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {retry_after}\r\n"
        f"{H_TUS_RESUMABLE}: {TUS_RESUMABLE}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionCap:
    """A protocol factory: aiohttp's own (``web.Server``) while fewer than ``limit`` are open."""

    def __init__(self, server: web.Server, limit: int, retry_after: int) -> None:
        self.server = server
        self.limit = limit
        self.open = 0
        self.lingering = 0
        self.answer = refusal(limit, retry_after)
        self._refused = 0  # since the last warning
        self._logged_at = float("-inf")

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.limit:
            self._note_refusal()
            return _Refusal(self)
        self.open += 1  # taken here, before the transport exists: a burst of accepts cannot overshoot
        return _Counted(self, self.server())

    def _note_refusal(self) -> None:
        self._refused += 1
        now = asyncio.get_running_loop().time()
        if now - self._logged_at >= LOG_EVERY:  # a flood must not become a flood of log lines
            log.warning("connections_refused", limit=self.limit, refused=self._refused)
            self._logged_at, self._refused = now, 0


class _Counted(asyncio.Protocol):
    """aiohttp's RequestHandler, plus giving its connection back to the count when it closes."""

    __slots__ = ("cap", "inner")

    def __init__(self, cap: ConnectionCap, inner: asyncio.Protocol) -> None:
        self.cap, self.inner = cap, inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.open -= 1
        self.inner.connection_lost(exc)


class _Refusal(asyncio.Protocol):
    """Writes the 503, half-closes, and reads (discarding) until the client closes or LINGER ends:
    a socket closed with the client's request still unread would be reset, and a reset can
    destroy the answer before the client reads it."""

    __slots__ = ("cap", "timer", "transport")

    def __init__(self, cap: ConnectionCap) -> None:
        self.cap = cap
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.cap.answer)
        if self.cap.lingering >= LINGER_MAX or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self.cap.lingering += 1
        self.timer = asyncio.get_running_loop().call_later(LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read: the answer is the same whatever it says

    def eof_received(self) -> bool:
        return False  # the client closed its side too: the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.cap.lingering -= 1


class CappedSite(web.BaseSite):
    """A TCP site like ``web.TCPSite`` whose listening socket serves through ``ConnectionCap``."""

    __slots__ = ("_host", "_port", "cap", "web_server")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int, retry_after: int) -> None:
        super().__init__(runner)
        assert runner.server is not None  # BaseSite checked: the runner is set up
        self._host, self._port = host, port
        self.web_server = runner.server
        self.cap = ConnectionCap(runner.server, max_connections, retry_after) if max_connections else None

    @property
    def port(self) -> int:
        """The bound port (the requested one until started; useful with port 0)."""
        if self._server is not None and (sockets := getattr(self._server, "sockets", None)):
            return int(sockets[0].getsockname()[1])
        return self._port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        factory: Callable[[], asyncio.BaseProtocol] = self.cap or self.web_server
        loop = asyncio.get_running_loop()
        # BaseSite.stop() closes what its subclasses' start() puts in self._server
        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog)


class CannotListen(Exception):
    """The listening socket could not be bound (address in use, no permission)."""


def raise_descriptor_limit(connections: int) -> None:
    """Lift the soft RLIMIT_NOFILE toward the hard one, so that the cap, not the descriptor table,
    is what refuses connections: a soft limit of 1024 (a common default) is below the default cap."""
    try:
        import resource
    except ImportError:  # not a Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + SPARE_DESCRIPTORS
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if new < want:
        log.warning("descriptor_limit_low", limit=new, max_connections=connections, wanted=want)


async def serve(app: web.Application, settings: ServerSettings, *, ready: Callable[[CappedSite], None]) -> None:
    """Run ``app`` until SIGINT or SIGTERM, as ``web.run_app`` does, behind the connection cap.
    ``ready`` is called once the socket is bound, so what it prints is true."""
    if settings.max_connections:
        raise_descriptor_limit(settings.max_connections)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT)
    await runner.setup()
    if (observer := app.get(OBSERVER)) is not None and (server := runner.server) is not None:
        observer.watch_connections(lambda: len(server.connections))  # tusd_connections_open, read per scrape
    try:
        site = CappedSite(
            runner,
            settings.host,
            settings.port,
            max_connections=settings.max_connections,
            retry_after=settings.retry_after,
        )
        try:
            await site.start()
        except OSError as exc:  # the port is taken or not ours: the caller says so in one line
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise CannotListen(f"cannot listen on {settings.host}:{settings.port}: {reason}") from exc
        ready(site)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()  # closes the listener, then the connections, then the app's cleanup_ctx
