"""GET /metrics on a real server over raw sockets: hostile input to it is refused or answered
and the server answers after; tusd_connections_open counts the open connections (issue 16)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from .server import Server, exchange, request, running

GET_METRICS = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("metrics")) as srv:
        yield srv


def metric(answer: bytes, name: str) -> float:
    match = re.search(rb"^" + name.encode() + rb" ([0-9.e+-]+)$", answer, re.M)
    assert match, answer[:2000]
    return float(match.group(1))


def test_metrics_over_the_wire(server: Server) -> None:
    answer = exchange(server.port, GET_METRICS)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nContent-Type: text/plain; version=0.0.4" in answer
    assert metric(answer, "tusd_connections_open") >= 1  # this very connection


def test_connections_open_counts_idle_sockets(server: Server) -> None:
    before = metric(exchange(server.port, GET_METRICS), "tusd_connections_open")
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(5)]
    try:
        assert metric(exchange(server.port, GET_METRICS), "tusd_connections_open") >= before + 5
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
        b"GET /metrics?" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\x00\xff\x00\xff\x00",
        b"GET /met\x00rics HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS hello
        b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /metrics/../metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=[
        "empty",
        "blank",
        "huge-header",
        "many-headers",
        "huge-query",
        "body",
        "nul",
        "tls",
        "version",
        "post",
        "dots",
    ],
)
def test_hostile_input_on_metrics_then_the_server_answers(server: Server, raw: bytes) -> None:
    try:
        statuses = request(server.port, raw, timeout=3.0)
    except OSError:  # the server may reset a connection it refuses
        statuses = []
    assert all(status != 500 for status in statuses), statuses
    assert request(server.port, GET_METRICS) == [200]
    assert server.alive()


def test_a_scrape_does_not_count_as_an_error(server: Server) -> None:
    text = exchange(server.port, GET_METRICS)
    assert not re.search(rb'^tusd_errors_total\{code="",status="200"\}', text, re.M)
    assert re.search(rb'^tusd_requests_total\{method="GET"\} [1-9]', text, re.M)
