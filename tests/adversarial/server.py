"""A real ``tusd-py serve`` subprocess on 127.0.0.1, and a raw-socket client that sends exactly
the bytes a test gives it (no HTTP library tidies up what an attacker sends)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.moto_server import free_port
from tests.fixtures.process import ServerProcess

TUSD_PY = Path(sys.executable).parent / "tusd-py"
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


@dataclass
class Server(ServerProcess):
    data_dir: Path

    def alive(self, timeout: float = 5.0) -> bool:
        """Whether the server answers an OPTIONS within ``timeout`` seconds."""
        try:
            status = request(self.port, b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\n\r\n", timeout=timeout)
        except OSError:
            return False
        return status == [204]


def start_server(tmp: Path, env: dict[str, str] | None = None, port: int | None = None) -> Server:
    """Start ``tusd-py serve`` with the embedded defaults plus ``env``; wait until it answers."""
    port = port or free_port()
    data_dir = tmp / "data"
    log = tmp / f"server-{port}.log"
    full_env = {
        **os.environ,
        "TUSD_PORT": str(port),
        "TUSD_HOST": "127.0.0.1",
        "TUSD_DATA_DIR": str(data_dir),
        "TUSD_LOG_LEVEL": "warning",
        **(env or {}),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([str(TUSD_PY), "serve"], env=full_env, stdout=out, stderr=out, cwd=tmp)
    server = Server(port, proc, log, data_dir)
    deadline = time.monotonic() + 30
    while not server.alive(timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"tusd-py did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return server


@contextmanager
def running(tmp: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(tmp, env)
    try:
        yield server
    finally:
        server.stop()


def read_responses(sock: socket.socket, count: int, timeout: float) -> bytes:
    """Everything the server sends until ``count`` status lines arrived, EOF, or ``timeout``."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while len(_STATUS.findall(data)) < count and time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        if not piece:
            break
        data += piece
    return data


def request(port: int, raw: bytes, *, count: int = 1, timeout: float = 5.0) -> list[int]:
    """Send ``raw`` on a new connection; the status codes of the (up to ``count``) responses."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        return [int(code) for code in _STATUS.findall(read_responses(sock, count, timeout))]


def exchange(port: int, raw: bytes, *, count: int = 1, timeout: float = 5.0) -> bytes:
    """Like ``request``, but the raw bytes of the answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_responses(sock, count, timeout)


def create(port: int, length: int, extra: str = "") -> str:
    """POST a new upload of ``length`` bytes; its path (/files/<id>)."""
    answer = exchange(
        port,
        f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {length}\r\n{extra}"
        "Content-Length: 0\r\n\r\n".encode(),
    )
    match = re.search(rb"\r\nLocation: https?://[^/]+(/files/[A-Za-z0-9_-]+)\r\n", answer)
    assert match, answer
    return match.group(1).decode()
