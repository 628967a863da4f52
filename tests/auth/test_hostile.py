"""Hostile input against /auth/* and the Authorization header, on a real ``tusd-py serve`` over raw
sockets (no HTTP library tidies up what is sent): empty, truncated, oversized, duplicated and
malformed input, each answered with a 4xx and a JSON error, and the server still answering after.
Run with the embedded default (sessions in the SQLite database) and with Redis sessions."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.server import Server, exchange, request, running

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["embedded", "redis"], scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "TUSD_AUTH": "local",
        "TUSD_COOKIE_SECURE": "false",
        "TUSD_RATE_LOGIN_ADDRESS": "1000/minute",
        "TUSD_RATE_LOGIN_EMAIL": "1000/minute",
        "TUSD_RATE_REGISTER_ADDRESS": "1000/hour",
    }
    if request.param == "redis":
        env["TUSD_REDIS_URL"] = request.getfixturevalue("redis_server_url").replace("/0", "/3")
    with running(tmp_path_factory.mktemp(f"auth-{request.param}"), env) as started:
        yield started


def post(port: int, path: str, body: bytes, extra: str = "", content_type: str = "application/json") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return exchange(port, (head + extra + "Connection: close\r\n\r\n").encode() + body)


def status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def json_error(answer: bytes) -> dict[str, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head, head
    value: dict[str, str] = json.loads(body)
    assert set(value) == {"error", "message"}
    return value


def access_token(server: Server, email: str) -> str:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    post(server.port, "/auth/register", body)  # 201, or 409 from an earlier test: both fine here
    answer = post(server.port, "/auth/login", body)
    assert status(answer) == 200, answer
    token: str = json.loads(answer.partition(b"\r\n\r\n")[2])["access_token"]
    return token


def still_answers(server: Server) -> None:
    assert server.alive()
    answer = post(server.port, "/auth/login", json.dumps({"email": "n@example.com", "password": "x" * 12}).encode())
    assert status(answer) == 401 and json_error(answer)["error"] == "ERR_UNAUTHORIZED"


BODIES = {
    "empty": (b"", 400),
    "truncated-json": (b'{"email": "a@example.com", "pass', 400),
    "not-an-object": (b"[1, 2, 3]", 422),
    "a-string": (b'"hello"', 422),
    "wrong-types": (b'{"email": 5, "password": ["x"]}', 422),
    "nan": (b'{"email": NaN, "password": "x"}', 422),
    "invalid-utf8": (b'{"email": "\xff\xfe", "password": "xxxxxxxxxxxx"}', 400),
    "deep-nesting": (b"[" * 8000, 400),
    "nul-bytes": (b'{"email": "a\\u0000@example.com", "password": "correct horse battery"}', 422),
    "long-email": (json.dumps({"email": "a" * 300 + "@example.com", "password": PASSWORD}).encode(), 422),
    "long-password": (json.dumps({"email": "long@example.com", "password": "p" * 2000}).encode(), 422),
}


@pytest.mark.parametrize("case", sorted(BODIES))
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_malformed_bodies(server: Server, path: str, case: str) -> None:
    body, expected = BODIES[case]
    if path == "/auth/login" and case == "long-password":
        expected = 401  # login checks a password, it does not judge it
    answer = post(server.port, path, body)
    assert status(answer) == expected, answer[:300]
    json_error(answer)
    still_answers(server)


def test_wrong_content_type(server: Server) -> None:
    answer = post(server.port, "/auth/register", b'{"email": "x@example.com"}', content_type="text/plain")
    assert status(answer) == 415 and json_error(answer)["error"] == "ERR_INVALID_CONTENT_TYPE"
    answer = post(server.port, "/auth/login", b"{}", content_type="")
    assert status(answer) == 415


def test_oversized_bodies(server: Server) -> None:
    announced = (
        b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000\r\n\r\n" + b"{" * 1000
    )
    answer = exchange(server.port, announced)
    assert status(answer) == 413 and json_error(answer)["error"] == "ERR_MAX_SIZE_EXCEEDED"
    chunk = b"x" * 4000
    chunked = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 5
        + b"0\r\n\r\n"
    )
    answer = exchange(server.port, chunked)
    assert status(answer) == 413
    still_answers(server)


def test_a_body_cut_short(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
            b'{"email": "a@example.com"'
        )
        sock.shutdown(socket.SHUT_WR)  # the client goes away mid-body
        sock.settimeout(5)
        try:
            sock.recv(4096)
        except OSError:
            pass
    still_answers(server)


def test_duplicated_headers(server: Server) -> None:
    token = access_token(server, "dup@example.com")
    twice = (
        f"GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    answer = exchange(server.port, twice.encode())
    assert status(answer) == 401 and b'error="invalid_request"' in answer
    lengths = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}"
    )
    assert request(server.port, lengths) == [400]
    cookies = (
        b"POST /auth/refresh HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\nCookie: tusd_refresh=a.b.c\r\n"
        b"Cookie: tusd_refresh=d.e.f\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert request(server.port, cookies) == [401]
    still_answers(server)


@pytest.mark.parametrize(
    "value",
    [b"Bearer", b"Bearer ", b"Bearer a.b", b"Bearer a.b.c", b"Basic Zm9vOmJhcg==", b"Bearer \xc3\xa9.a.b", b"\xff\xfe"],
    ids=["bare", "empty", "two-parts", "unsigned", "basic", "non-ascii", "binary"],
)
def test_malformed_authorization(server: Server, value: bytes) -> None:
    raw = b"GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\nConnection: close\r\n\r\n"
    answer = exchange(server.port, raw)
    assert status(answer) == 401 and b"WWW-Authenticate: Bearer" in answer
    tus = b"HEAD /files/abc HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: " + value + b"\r\n\r\n"
    assert request(server.port, tus) == [401]
    still_answers(server)


def test_huge_tokens(server: Server) -> None:
    big = (
        b"GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * 10_000 + b"\r\nConnection: close\r\n\r\n"
    )
    assert request(server.port, big) == [400]  # beyond the parser's header limit (8190 bytes)
    long = b"GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a.b." + b"c" * 6000 + b"\r\n\r\n"
    assert request(server.port, long) == [401]
    query = b"GET /media/abc/events?access_token=" + b"x" * 6000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert request(server.port, query) == [401]
    still_answers(server)


def test_cookie_endpoints_with_garbage(server: Server) -> None:
    for cookie in (b"tusd_refresh=", b"tusd_refresh=" + b"z" * 5000, b"tusd_refresh=\x01\x02", b"=;;=;"):
        raw = (
            b"POST /auth/refresh HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\nCookie: "
            + cookie
            + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        assert request(server.port, raw)[0] in (400, 401), cookie
    forged_origin = b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nOrigin: null\r\nContent-Length: 0\r\n\r\n"
    assert request(server.port, forged_origin) == [403]
    still_answers(server)


def test_session_ids_and_unknown_paths(server: Server) -> None:
    token = access_token(server, "ids@example.com")
    for path in (b"/auth/sessions/..%2F..", b"/auth/sessions/" + b"a" * 500, b"/auth/sessions/%00", b"/auth/nope"):
        raw = b"DELETE " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"
        assert request(server.port, raw) == [404], path
        anonymous = b"DELETE " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert request(server.port, anonymous) == [401], path
    still_answers(server)


def test_the_server_log_has_no_crash(server: Server) -> None:
    """No handler crashed; the only tracebacks are aiohttp's own parser refusing a request (400)."""
    text = Path(server.log).read_text(errors="replace")
    assert "request_crashed" not in text
    for trace in text.split("Traceback (most recent call last):")[1:]:
        last = next(line for line in trace.splitlines() if line and not line.startswith(" "))
        assert last.startswith(("aiohttp.http_exceptions.BadHttpMessage", "aiohttp.http_exceptions.LineTooLong")), last


def test_expect_100_continue_without_a_token_is_refused_before_the_body(server: Server) -> None:
    head = "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 5\r\nContent-Length: 5\r\n"
    head += "Content-Type: application/offset+octet-stream\r\nExpect: 100-continue\r\n"
    refused = exchange(server.port, (head + "\r\n").encode())  # the body is never sent
    assert status(refused) == 401 and b"100 Continue" not in refused
    token = access_token(server, "expect@example.com")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall((head + f"Authorization: Bearer {token}\r\n\r\n").encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
    assert status(answer) == 201 and b"Upload-Offset: 5" in answer
    still_answers(server)
