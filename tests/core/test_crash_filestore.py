"""A real crash: ``kill -9`` a ``tusd-py serve`` (file store) while a PATCH body is streaming,
start it again on the same data directory, and resume from HEAD's offset (issue 2 §4).

The offset after the restart must equal the bytes on disk and never exceed what the client
sent; the resumed upload must be byte-identical (sha256 of the download and of the data file).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.fakes import pattern
from tests.fixtures.moto_server import free_port

MiB = 1024 * 1024
SIZE = 20 * MiB
SENT_BEFORE_CRASH = 6 * MiB
ON_DISK_BEFORE_CRASH = 4 * MiB  # wait until the server has stored this much, then kill it
TUSD_PY = Path(sys.executable).parent / "tusd-py"
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def start(data_dir: Path, log: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "TUSD_HOST": "127.0.0.1",
        "TUSD_PORT": str(port),
        "TUSD_STORE": "file",
        "TUSD_DATA_DIR": str(data_dir),
        "TUSD_READ_TIMEOUT": "60",
        "TUSD_SWEEP_INTERVAL": "3600",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([str(TUSD_PY), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tusd-py exited early:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Server(port, proc, log)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"tusd-py did not listen on {port}:\n{log.read_text()}")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


def request(
    server: Server, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(method, path, body=body, headers={**TUS, **headers})
    response = conn.getresponse()
    response.read()  # drain, so the connection closes cleanly; callers need the status and headers
    conn.close()
    return response


def download(server: Server, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", path, headers=TUS)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert response.status == 200, data[:200]
    return data


def wait_for_size(path: Path, at_least: int, server: Server) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size >= at_least:
            return size
        time.sleep(0.02)
    raise AssertionError(f"the server stored only {size} bytes:\n{server.log.read_text()}")


def test_kill_9_mid_patch_then_restart_and_resume(tmp_path: Path, servers: list[Server]) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    data = pattern(SIZE, seed=99)
    servers.append(first := start(data_dir, log))

    created = request(first, "POST", "/files/", {"Upload-Length": str(SIZE)})
    assert created.status == 201, log.read_text()
    path = "/files/" + created.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    data_file = data_dir / "uploads" / path.rsplit("/", 1)[-1]

    # A raw PATCH that announces all 20 MiB but stops after 6 MiB: the body is still streaming.
    sock = socket.create_connection(("127.0.0.1", first.port), timeout=30)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{first.port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {SIZE}\r\n\r\n"
    )
    sock.sendall(head.encode())
    for pos in range(0, SENT_BEFORE_CRASH, 256 * 1024):
        sock.sendall(data[pos : pos + 256 * 1024])
    stored_before = wait_for_size(data_file, ON_DISK_BEFORE_CRASH, first)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    sock.close()

    servers.append(second := start(data_dir, log))
    head_resp = request(second, "HEAD", path, {})
    assert head_resp.status == 200, log.read_text()
    offset = int(head_resp.headers["Upload-Offset"])
    on_disk = data_file.read_bytes()
    assert offset == len(on_disk)
    assert stored_before <= offset <= SENT_BEFORE_CRASH
    assert on_disk == data[:offset]  # nothing torn, shifted or doubled

    resumed = request(
        second,
        "PATCH",
        path,
        {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
        data[offset:],
    )
    assert resumed.status == 204, log.read_text()
    assert int(resumed.headers["Upload-Offset"]) == SIZE
    expected = hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(download(second, path)).hexdigest() == expected
    assert hashlib.sha256(data_file.read_bytes()).hexdigest() == expected
