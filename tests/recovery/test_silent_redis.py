"""A Redis that accepts connections and never answers (a hung server, a half-dead proxy) or refuses
them: every request that needs it ends 503 ``ERR_STORAGE_UNAVAILABLE`` within a few seconds
(TUSD_REDIS_TIMEOUT), never a 500 and never a request that hangs; the server goes on answering."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.adversarial.server import create, exchange, request, running
from tests.fixtures.moto_server import free_port

TIMEOUT = 1.0  # TUSD_REDIS_TIMEOUT of the server under test
BOUND = 4 * TIMEOUT + 3.0  # connect + a command, with a retry's worth of slack, on a busy machine


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection, reads what it gets, answers nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.setblocking(False)
            held.append(conn)  # kept open, never written to

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def _timed(port: int, raw: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    answer = exchange(port, raw, timeout=BOUND + 5)
    return answer, time.monotonic() - started


def _status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def _walk(port: int, data_dir: Path) -> None:
    """Every route that needs Redis: 503 in time; the rest answers as usual."""
    path = create(port, 5)  # the file store creates without Redis
    upload_id = path.rsplit("/", 1)[1]
    tus = "Tus-Resumable: 1.0.0\r\n"
    patch = (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{tus}Upload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n\r\nhello"
    )
    cases = {
        "PATCH (the upload lock)": patch,
        "DELETE (the upload lock)": f"DELETE {path} HTTP/1.1\r\nHost: x\r\n{tus}\r\n",
        "readiness": "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, raw in cases.items():
        answer, took = _timed(port, raw.encode())
        assert _status(answer) == 503, (name, answer[:400])
        assert took < BOUND, (name, took)
        if name != "readiness":
            assert b"ERR_STORAGE_UNAVAILABLE" in answer, (name, answer[:400])
    for name, raw in {
        "HEAD": f"HEAD {path} HTTP/1.1\r\nHost: x\r\n{tus}\r\n",
        "status": f"GET /media/{upload_id} HTTP/1.1\r\nHost: x\r\n\r\n",
        "events": f"GET /media/{upload_id}/events HTTP/1.1\r\nHost: x\r\n\r\n",
        "download": f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n",
        "list": "GET /media HTTP/1.1\r\nHost: x\r\n\r\n",
    }.items():
        answer, took = _timed(port, raw.encode())
        assert _status(answer) != 500 and took < BOUND, (name, took, answer[:400])
    assert request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == [200]  # the process lives on


@pytest.mark.timeout(120)
def test_a_redis_that_never_answers_is_503_in_seconds(tmp_path: Path) -> None:
    with silent_server() as redis_port:
        env = {"TUSD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "TUSD_REDIS_TIMEOUT": str(TIMEOUT)}
        with running(tmp_path, env) as server:
            _walk(server.port, server.data_dir)


@pytest.mark.timeout(120)
def test_a_redis_that_refuses_connections_is_503(tmp_path: Path) -> None:
    env = {"TUSD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "TUSD_REDIS_TIMEOUT": str(TIMEOUT)}
    with running(tmp_path, env) as server:
        _walk(server.port, server.data_dir)


@pytest.mark.timeout(120)
def test_on_the_s3_store_every_tus_route_is_503_with_a_silent_redis(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str
) -> None:
    """The S3 store keeps each upload's record in Redis: creation, HEAD, PATCH, DELETE and GET all
    need it."""
    with silent_server() as redis_port:
        env = {
            "TUSD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "TUSD_REDIS_TIMEOUT": str(TIMEOUT),
            "TUSD_STORE": "s3",
            "TUSD_S3_BUCKET": s3_bucket,
            "TUSD_S3_ENDPOINT_URL": moto_endpoint,
            "TUSD_S3_PATH_STYLE": "true",
            "TUSD_MASTER_KEY": os.urandom(32).hex(),
        }
        with running(tmp_path, env) as server:
            path = "/files/0123456789abcdef0123456789abcdef"
            tus = "Tus-Resumable: 1.0.0\r\n"
            for name, raw in {
                "POST": f"POST /files/ HTTP/1.1\r\nHost: x\r\n{tus}Upload-Length: 5\r\nContent-Length: 0\r\n\r\n",
                "HEAD": f"HEAD {path} HTTP/1.1\r\nHost: x\r\n{tus}\r\n",
                "PATCH": f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{tus}Upload-Offset: 0\r\n"
                "Content-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n\r\nhello",
                "DELETE": f"DELETE {path} HTTP/1.1\r\nHost: x\r\n{tus}\r\n",
                "GET": f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n",
            }.items():
                answer, took = _timed(server.port, raw.encode())
                assert _status(answer) == 503 and took < BOUND, (name, took, answer[:400])
                if name != "HEAD":  # a HEAD answer has no body
                    assert b"ERR_STORAGE_UNAVAILABLE" in answer, (name, answer[:400])
            assert request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == [200]
