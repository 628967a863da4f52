"""What the browser tests of the web app stand on: a real ``tusd-py serve`` with accounts, a
throttling TCP proxy in front of it (so that an upload lasts long enough to interrupt), and
Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.moto_server import free_port
from tests.fixtures.process import ServerProcess

TUSD_PY = Path(sys.executable).parent / "tusd-py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PASSWORD = "correct horse battery"
MAX_SIZE = 20_000_000  # Tus-Max-Size: the page refuses a larger file before any request
QUOTA = 12_000_000  # bytes one user may hold: the server refuses the creation of a larger upload


def start_server(tmp: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """The embedded default with local accounts over plain http (cookie_secure off), a small
    fast ladder (two renditions: a quality choice), short segments, a size limit and a quota."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    full_env = {
        **os.environ,
        "TUSD_PORT": str(port),
        "TUSD_HOST": "127.0.0.1",
        "TUSD_DATA_DIR": str(tmp / "data"),
        "TUSD_AUTH": "local",
        "TUSD_COOKIE_SECURE": "false",
        "TUSD_LADDER_HEIGHTS": "360,240",
        "TUSD_X264_PRESET": "ultrafast",
        "TUSD_SEGMENT_SECONDS": "1",
        "TUSD_THUMBNAIL_COUNT": "1",
        "TUSD_LOG_LEVEL": "warning",
        "TUSD_MAX_SIZE": str(MAX_SIZE),
        "TUSD_QUOTA_BYTES": str(QUOTA),
        **(env or {}),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([str(TUSD_PY), "serve"], env=full_env, stdout=out, stderr=out, cwd=tmp)
    server = ServerProcess(port, proc, log)
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                return server
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"tusd-py did not start:\n{log.read_text()}")
        time.sleep(0.2)


class ThrottleProxy:
    """A TCP proxy on 127.0.0.1 that passes what the browser sends at ``rate`` bytes a second
    (None: at once) and the answers at once. When either side closes, both are closed, as a
    dropped network would: the server sees the PATCH body break off and keeps what arrived."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.rate: float | None = None
        self.forwarded = 0  # bytes passed on to the server, all connections together
        self.port = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="throttle-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThrottleProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            for writer in list(self._open):
                writer.transport.abort()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def drop(self) -> None:
        """Cut every open connection at once, as a dropped network does (the browser's offline mode
        alone leaves a request in flight untouched)."""

        def cut() -> None:
            for writer in list(self._open):
                writer.transport.abort()

        self._loop.call_soon_threadsafe(cut)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        # A small receive window, as a slow link's would be: the browser cannot park megabytes in
        # loopback's socket buffers, so its upload progress follows what the proxy passed on.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        listener.bind(("127.0.0.1", 0))
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=listener))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, throttled=True), self._pump(up_reader, writer, throttled=False)
            )
        finally:
            self._open.difference_update((writer, up_writer))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, throttled: bool) -> None:
        try:
            while True:
                data = await source.read(8192 if throttled else 65536)
                if not data:
                    break
                sink.write(data)
                await sink.drain()
                if throttled:
                    self.forwarded += len(data)
                if throttled and self.rate:
                    await asyncio.sleep(len(data) / self.rate)
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


@contextlib.contextmanager
def proxy_to(port: int) -> Iterator[ThrottleProxy]:
    proxy = ThrottleProxy(port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def login(base: str, email: str) -> str:
    """An access token of ``email`` (its own session, beside the browser's)."""
    answer = httpx.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def server_sha256(base: str, token: str, upload_id: str) -> str:
    """The sha256 of the upload's bytes as the server serves them back (GET on the tus URL)."""
    answer = httpx.get(
        f"{base}/files/{upload_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30, follow_redirects=True
    )
    assert answer.status_code == 200, answer.text[:200]
    return hashlib.sha256(answer.content).hexdigest()


def screenshot(page: Any, artifacts: Path, name: str) -> None:
    """Save the page as a test artifact; with TUSD_UPDATE_DOCS_IMAGES=1, also as docs/images/web-<name>.png."""
    path = artifacts / f"web-{name}.png"
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring in the picture
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TUSD_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / path.name)
