"""/healthz and /readyz on a real server (issue 16): raw sockets, Redis up, Redis gone, hostile input.

Every case ends by checking that the server still answers."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.moto_server import free_port

from .server import Server, create, exchange, request, running

GET = "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"


def _body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


@pytest.fixture(scope="module")
def closed_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose TUSD_REDIS_URL points at a port nothing listens on."""
    env = {"TUSD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running(tmp_path_factory.mktemp("health-closed"), env=env) as server:
        yield server


def test_healthz_and_readyz_without_tus_headers(tmp_path: Path, redis_url: str) -> None:
    with running(tmp_path, env={"TUSD_REDIS_URL": redis_url}) as server:
        assert exchange(server.port, GET.format(path="/healthz").encode()).endswith(b"\r\n\r\nok\n")
        answer = exchange(server.port, GET.format(path="/readyz").encode())
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert json.loads(_body(answer)) == {
            "status": "ready",
            "checks": {"storage": "ok", "redis": "ok", "database": "ok"},
        }
        head = "HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
        assert request(server.port, head.encode()) == [200]
        # pipelined probes on one keep-alive connection, as a balancer polling every second does
        assert request(server.port, GET.format(path="/readyz").encode() * 5, count=5) == [200] * 5


def test_redis_unreachable_is_503_never_500(closed_redis: Server) -> None:
    port = closed_redis.port
    path = create(port, 3)  # the file store alone: no Redis needed
    upload_id = path.rsplit("/", 1)[1]
    assert request(port, GET.format(path="/healthz").encode()) == [200]
    ready = exchange(port, GET.format(path="/readyz").encode())
    assert ready.startswith(b"HTTP/1.1 503 ")
    checks = json.loads(_body(ready))["checks"]
    assert checks["storage"] == "ok" and checks["database"] == "ok" and checks["redis"] != "ok"
    tus = "Tus-Resumable: 1.0.0\r\n"
    patch = (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{tus}Upload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 3\r\n\r\nabc"
    )
    for raw in (
        f"HEAD {path} HTTP/1.1\r\nHost: x\r\n{tus}\r\n",
        patch,
        f"DELETE {path} HTTP/1.1\r\nHost: x\r\n{tus}\r\n",
        GET.format(path=f"/media/{upload_id}/events"),  # live changes come over Redis pub/sub
    ):
        answer = exchange(port, raw.encode())
        assert answer.startswith(b"HTTP/1.1 503 "), (raw, answer[:300])
        if not raw.startswith("HEAD"):
            assert b"ERR_STORAGE_UNAVAILABLE" in answer, answer[:300]
    assert request(port, GET.format(path=f"/media/{upload_id}").encode()) == [200]  # records are in SQL
    assert "Traceback" not in closed_redis.log.read_text()
    assert closed_redis.alive()


def test_redis_lost_while_running_then_back(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    redis_port = free_port()
    args = [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", redis_port)) == 0:
                    return proc
            time.sleep(0.05)
        proc.kill()
        raise RuntimeError("redis-server did not start")

    redis = start_redis()
    try:
        with running(tmp_path, env={"TUSD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}) as server:
            path = create(server.port, 3)
            media = GET.format(path=f"/media/{path.rsplit('/', 1)[1]}").encode()
            assert request(server.port, media) == [200]
            redis.terminate()
            redis.wait(timeout=10)
            time.sleep(1.1)  # past the readiness cache
            assert request(server.port, GET.format(path="/readyz").encode()) == [503]
            assert request(server.port, media) == [200]  # the media records are in the SQL database
            assert request(server.port, GET.format(path="/healthz").encode()) == [200]
            redis = start_redis()
            deadline = time.monotonic() + 10
            while request(server.port, GET.format(path="/readyz").encode()) != [200]:
                assert time.monotonic() < deadline, "readyz never came back after Redis did"
                time.sleep(0.2)
            assert request(server.port, media) == [200]
            assert "Traceback" not in server.log.read_text()
    finally:
        redis.kill()
        redis.wait(timeout=10)


HOSTILE = [
    b"",
    b"\r\n\r\n",
    b"GET /healthz\r\n\r\n",  # no version
    b"GET /readyz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"G\x00T /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    b"GET /readyz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 5_000 + b"\r\n",
    b"GET /readyz?" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_on_the_health_endpoints(closed_redis: Server, raw: bytes) -> None:
    try:
        codes = request(closed_redis.port, raw, timeout=3)
    except OSError:  # the server may reset a connection that sends garbage: fine, if it lives on
        codes = []
    assert all(code < 500 or code == 503 for code in codes), codes  # never a 500
    assert request(closed_redis.port, GET.format(path="/healthz").encode()) == [200]
    assert closed_redis.alive()
