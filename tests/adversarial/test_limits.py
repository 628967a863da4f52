"""The limits of issue 11 against a real server and raw sockets: open connections, upload bodies
in flight, the minimum body rate, event streams (lifetime, per client).

Each limit is reached the way a hostile or broken client reaches it (idle sockets, bodies that
never finish, a trickle, streams left open), and each test ends by checking that the server
still answers. Times are only ever generous upper bounds: "it ended rather than hung"."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import Server, create, exchange, read_responses, request, running

TUS = "Tus-Resumable: 1.0.0\r\n"
OCTET = "Content-Type: application/offset+octet-stream\r\n"


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _until_eof(sock: socket.socket, timeout: float, end: bytes | None = None) -> tuple[bytes, bool]:
    """What arrives until the server closes (or sends ``end``); and whether it did within ``timeout``."""
    sock.settimeout(0.2)
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, True
        if not piece:
            return data, True
        data += piece
        if end is not None and data.endswith(end):
            return data, True
    return data, False


def _offset(port: int, path: str) -> int:
    answer = exchange(port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n{TUS}\r\n".encode())
    match = re.search(rb"\r\nUpload-Offset: (\d+)\r\n", answer)
    assert match, answer
    return int(match.group(1))


def _eventually_answers(server: Server, timeout: float = 10.0) -> bool:
    """The server answers again once it has noticed closed connections (it notices asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.alive(timeout=2):
            return True
        time.sleep(0.1)
    return False


# -- open connections -----------------------------------------------------------------------


def test_a_connection_beyond_max_connections_gets_503_and_is_closed(tmp_path: Path) -> None:
    with running(tmp_path, env={"TUSD_MAX_CONNECTIONS": "5", "TUSD_RETRY_AFTER": "3"}) as server:
        for _round in range(2):  # the second round: refused and closed connections left no trace
            idle = [_connect(server.port) for _ in range(5)]  # they send nothing at all
            time.sleep(0.3)
            for _ in range(3):
                with _connect(server.port) as extra:
                    extra.sendall(b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\n\r\n")
                    answer, closed = _until_eof(extra, 5)
                assert closed, answer  # closed by the server, not left hanging
                head, _, body = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 503 "), answer
                lines = head.split(b"\r\n")
                assert b"Retry-After: 3" in lines and b"Connection: close" in lines
                assert b"Tus-Resumable: 1.0.0" in lines
                assert b"TUSD_MAX_CONNECTIONS" in body
            with _connect(server.port) as silent:  # a refused client that sends nothing hears it too
                answer, closed = _until_eof(silent, 5)
                assert closed and answer.startswith(b"HTTP/1.1 503 "), answer
            for sock in idle[:2]:
                sock.close()
            assert _eventually_answers(server)  # room again once two closed
            for sock in idle[2:]:
                sock.close()
            assert _eventually_answers(server)
        assert server.proc.poll() is None


# -- upload bodies in flight ----------------------------------------------------------------


def _patch_head(path: str, length: int, extra: str = "") -> bytes:
    return (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{TUS}Upload-Offset: 0\r\n{OCTET}Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def test_a_body_beyond_max_uploads_in_flight_gets_503_before_it_is_sent(tmp_path: Path) -> None:
    env = {"TUSD_MAX_UPLOADS_IN_FLIGHT": "2", "TUSD_RETRY_AFTER": "4", "TUSD_MIN_BODY_RATE": "0"}
    with running(tmp_path, env=env) as server:
        paths = [create(server.port, 100) for _ in range(3)]
        held = [_connect(server.port) for _ in paths[:2]]
        for sock, path in zip(held, paths, strict=False):
            sock.sendall(_patch_head(path, 100) + b"a" * 10)  # and the other 90 bytes never come
        time.sleep(0.5)

        with _connect(server.port) as third:
            third.sendall(_patch_head(paths[2], 100))  # headers only: the answer must not wait for a body
            answer = read_responses(third, 1, 5)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"\r\nRetry-After: 4\r\n" in answer and b"ERR_SERVER_BUSY" in answer
        with _connect(server.port) as refused:  # a refused body is not drained: the server closes at once
            refused.sendall(_patch_head(paths[2], 100) + b"e" * 10)
            answer, closed = _until_eof(refused, 3)
        assert answer.startswith(b"HTTP/1.1 503 ") and b"\r\nConnection: close\r\n" in answer, answer
        assert closed, "the server kept the refused connection open to drain its body"
        with _connect(server.port) as expecting:  # Expect: 100-continue hears 503, never 100 Continue
            expecting.sendall(_patch_head(paths[2], 100, "Expect: 100-continue\r\n"))
            answer = read_responses(expecting, 1, 5)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert _offset(server.port, paths[2]) == 0
        assert request(server.port, b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\n\r\n") == [204]

        for sock in held:
            sock.sendall(b"b" * 90)
            assert read_responses(sock, 1, 5).startswith(b"HTTP/1.1 204 ")
            sock.close()
        assert request(server.port, _patch_head(paths[2], 100) + b"c" * 100) == [204]  # room again
        # a client that vanishes mid-body gives its slot back
        for _ in range(3):
            path = create(server.port, 100)
            with _connect(server.port) as vanishing:
                vanishing.sendall(_patch_head(path, 100) + b"d" * 10)
                time.sleep(0.1)
        time.sleep(0.5)
        statuses = [request(server.port, _patch_head(create(server.port, 5), 5) + b"e" * 5) for _ in range(2)]
        assert statuses == [[204], [204]]
        assert server.alive()


# -- minimum body rate, event streams --------------------------------------------------------


@pytest.fixture(scope="module")
def slow_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "TUSD_MIN_BODY_RATE": "100",
        "TUSD_BODY_RATE_WINDOW": "1",
        "TUSD_SSE_MAX_LIFETIME": "4",
        "TUSD_SSE_PER_CLIENT": "2",
        "TUSD_RETRY_AFTER": "3",
    }
    with running(tmp_path_factory.mktemp("limits"), env=env) as server:
        yield server


def test_a_trickling_body_is_ended_and_its_bytes_kept(slow_limits: Server) -> None:
    server = slow_limits
    path = create(server.port, 1000)
    with _connect(server.port) as sock:
        sock.sendall(_patch_head(path, 1000))
        sock.settimeout(0.2)
        answer, deadline = b"", time.monotonic() + 10
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            try:
                sock.sendall(b"x")  # 5 bytes a second: never silent, far below 100 per second
            except OSError:
                pass
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                pass
    assert answer.startswith(b"HTTP/1.1 500 "), answer  # ended (ERR_READ_INTERRUPTED), not hung
    assert b"the body is slower than 100 bytes per 1s" in answer
    kept = _offset(server.port, path)
    assert 0 < kept < 1000
    assert f"\r\nUpload-Offset: {kept}\r\n".encode() in answer
    assert b"Unhandled exception" not in server.log.read_bytes()  # no traceback per ended body
    assert server.alive()


def _events(path: str) -> bytes:
    upload_id = path.rsplit("/", 1)[1]
    return f"GET /media/{upload_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def test_an_event_stream_on_an_unfinished_upload_ends_at_its_lifetime(slow_limits: Server) -> None:
    server = slow_limits
    path = create(server.port, 10)  # never finished: only the lifetime can end its stream
    with _connect(server.port) as sock:
        sock.sendall(_events(path))
        answer, ended = _until_eof(sock, 15, end=b"\r\n0\r\n\r\n")
    assert ended, answer
    assert answer.startswith(b"HTTP/1.1 200 ") and b"text/event-stream" in answer
    assert b": lifetime reached, reconnect" in answer
    assert server.alive()


def test_one_client_beyond_sse_per_client_streams_gets_429(slow_limits: Server) -> None:
    server = slow_limits
    path = create(server.port, 10)
    streams = []
    for _ in range(2):
        sock = _connect(server.port)
        sock.sendall(_events(path))
        assert read_responses(sock, 1, 5).startswith(b"HTTP/1.1 200 ")
        streams.append(sock)
    answer = exchange(server.port, _events(path))
    assert answer.startswith(b"HTTP/1.1 429 "), answer
    assert b"\r\nRetry-After: 3\r\n" in answer and b"ERR_TOO_MANY_REQUESTS" in answer
    streams.pop().close()
    deadline = time.monotonic() + 10
    while not (again := exchange(server.port, _events(path), timeout=3)).startswith(b"HTTP/1.1 200 "):
        assert time.monotonic() < deadline, again  # the closed stream's slot comes back
        time.sleep(0.2)
    for sock in streams:
        sock.close()
    assert server.alive()
