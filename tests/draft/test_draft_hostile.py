"""Hostile input to the draft's requests, as raw bytes on a real ``tusd-py serve``: empty,
malformed, duplicated, oversized and unknown header values, truncated requests, HTTP/1.0 and
``Expect: 100-continue``. Each answer is checked, and the server must still answer afterwards."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.server import Server, exchange, request, running

V = "Upload-Draft-Interop-Version"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("draft-hostile"), {"TUSD_MAX_SIZE": "1000000"}) as started:
        yield started


def raw(method: str, path: str, headers: list[str], body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    return (f"{method} {path} {version}\r\nHost: x\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]


def create(server: Server) -> str:
    answer = exchange(
        server.port, raw("POST", "/files/", [f"{V}: 8", "Upload-Complete: ?0", "Content-Length: 0"]), count=2
    )
    match = re.search(rb"\r\nLocation: https?://[^/]+(/files/[A-Za-z0-9_-]+)\r\n", answer)
    assert match, answer
    return match.group(1).decode()


def offset(server: Server, path: str) -> int:
    answer = exchange(server.port, raw("HEAD", path, [f"{V}: 8"]))
    assert statuses(answer) == [204], answer
    match = re.search(rb"\r\nUpload-Offset: (\d+)\r\n", answer)
    assert match, answer
    return int(match.group(1))


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "2",
        "9",
        "0",
        "-6",
        "6.0",
        "abc",
        "?1",
        "8, 8",
        "1234567890123456",
        "8;",
        "\uff16",
    ],  # the last: a full-width digit
    ids=repr,
)
def test_bad_interop_versions_are_refused(server: Server, value: str) -> None:
    answer = exchange(
        server.port, raw("POST", "/files/", [f"{V}: {value}", "Upload-Complete: ?1", "Content-Length: 0"])
    )
    assert statuses(answer) == [400], answer
    assert b" 104 " not in answer  # never an interim response for a version it does not speak
    assert server.alive()


def test_duplicated_interop_version_is_refused(server: Server) -> None:
    answer = exchange(server.port, raw("POST", "/files/", [f"{V}: 8", f"{V}: 8", "Upload-Complete: ?1"]))
    assert statuses(answer) == [400] and b"more than once" in answer
    assert server.alive()


@pytest.mark.parametrize("value", ["", "true", "1", "?2", "?", "?1, ?0", "?1;", "??1", "?1 ?0", "?01"], ids=repr)
@pytest.mark.parametrize("version", [3, 8])
def test_malformed_completeness_booleans(server: Server, value: str, version: int) -> None:
    name = "Upload-Incomplete" if version == 3 else "Upload-Complete"
    answer = exchange(server.port, raw("POST", "/files/", [f"{V}: {version}", f"{name}: {value}", "Content-Length: 0"]))
    assert statuses(answer) == [400], answer
    assert name.encode() in answer.split(b"\r\n\r\n", 1)[1]  # the message names the header
    assert server.alive()


@pytest.mark.parametrize("header", ["Upload-Complete: ?0", "Upload-Offset: 0"])
def test_duplicated_state_headers_on_append(server: Server, header: str) -> None:
    path = create(server)
    headers = [f"{V}: 8", "Upload-Complete: ?0", "Upload-Offset: 0", header, "Content-Type: application/partial-upload"]
    answer = exchange(server.port, raw("PATCH", path, [*headers, "Content-Length: 1"], b"x"))
    assert statuses(answer) == [400], answer
    assert offset(server, path) == 0
    assert server.alive()


@pytest.mark.parametrize("value", ["", "-1", "1.5", "abc", "1234567890123456", "0, 0", "?0"], ids=repr)
def test_malformed_offsets(server: Server, value: str) -> None:
    path = create(server)
    headers = [f"{V}: 8", "Upload-Complete: ?0", f"Upload-Offset: {value}", "Content-Type: application/partial-upload"]
    answer = exchange(server.port, raw("PATCH", path, [*headers, "Content-Length: 1"], b"x"))
    assert statuses(answer) == [400], answer
    assert offset(server, path) == 0
    assert server.alive()


def test_missing_completeness_on_creation_and_on_a_late_append(server: Server) -> None:
    assert statuses(exchange(server.port, raw("POST", "/files/", [f"{V}: 8", "Content-Length: 0"]))) == [400]
    path = create(server)
    append = [f"{V}: 8", "Upload-Offset: 0", "Content-Type: application/partial-upload", "Content-Length: 1"]
    assert statuses(exchange(server.port, raw("PATCH", path, append, b"x"))) == [400]  # required from -06
    assert offset(server, path) == 0
    assert server.alive()


def test_oversized_values(server: Server) -> None:
    too_long = [f"{V}: 8", "Upload-Complete: ?0", "Upload-Length: 1000001", "Content-Length: 0"]
    assert statuses(exchange(server.port, raw("POST", "/files/", too_long))) == [413]  # TUSD_MAX_SIZE
    huge_header = [f"{V}: 8", "Upload-Complete: ?1", "Content-Disposition: inline; filename=" + "a" * 70_000]
    assert statuses(exchange(server.port, raw("POST", "/files/", huge_header)))[0] in (400, 431)
    big_body = [f"{V}: 8", "Upload-Complete: ?1", "Content-Length: 1000001"]
    answer = exchange(server.port, raw("POST", "/files/", big_body))
    assert statuses(answer) == [413], answer  # refused on its headers: no 104, no body read
    assert server.alive()


def test_truncated_requests(server: Server) -> None:
    # headers cut off: the connection ends before the blank line
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"POST /files/ HTTP/1.1\r\nHost: x\r\n{V}: 8\r\nUpload-Comp".encode())
    # content cut off after the 104: the bytes that arrived are the upload's
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw("POST", "/files/", [f"{V}: 8", "Upload-Complete: ?1", "Content-Length: 100"], b"0123456789"))
        head = sock.recv(65536)
        assert statuses(head) == [104], head
        match = re.search(rb"\r\nLocation: https?://[^/]+(/files/[A-Za-z0-9_-]+)\r\n", head)
        assert match, head
    path = match.group(1).decode()
    assert 0 <= offset(server, path) <= 10
    assert server.alive()


def test_http10_gets_no_interim_response(server: Server) -> None:
    headers = [f"{V}: 8", "Upload-Complete: ?1", "Content-Length: 5"]
    answer = exchange(server.port, raw("POST", "/files/", headers, b"hello", version="HTTP/1.0"))
    assert statuses(answer) == [201], answer
    assert server.alive()


def test_expect_100_continue_comes_before_the_104(server: Server) -> None:
    headers = [f"{V}: 8", "Upload-Complete: ?1", "Content-Length: 5", "Expect: 100-continue"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw("POST", "/files/", headers))
        answer = sock.recv(65536)
        assert statuses(answer)[0] == 100, answer  # the 104 may follow at once: the upload exists
        sock.sendall(b"hello")
        while 201 not in statuses(answer) and (piece := sock.recv(65536)):
            answer += piece
    assert statuses(answer) == [100, 104, 201], answer
    refused = [f"{V}: 8", "Upload-Complete: maybe", "Content-Length: 5", "Expect: 100-continue"]
    assert request(server.port, raw("POST", "/files/", refused)) == [400]  # before 100 Continue, no body read
    assert server.alive()


@pytest.mark.parametrize("method", ["HEAD", "DELETE"])
def test_state_headers_on_head_and_delete_before_06(server: Server, method: str, tmp_path: Path) -> None:
    path = create(server)
    answer = exchange(server.port, raw(method, path, [f"{V}: 5", "Upload-Offset: 0"]))
    assert statuses(answer) == [400], answer  # -02/-03: "MUST reject ... with 400"
    assert statuses(exchange(server.port, raw(method, path, [f"{V}: 8", "Upload-Offset: 0"])))[0] == 204
    assert server.alive()


def _append(path: str, offset: int, body: bytes, *, length: int | None = None) -> bytes:
    headers = [f"{V}: 8", f"Upload-Offset: {offset}", "Upload-Complete: ?0"]
    size = len(body) if length is None else length
    headers += ["Content-Type: application/partial-upload", f"Content-Length: {size}"]
    return raw("PATCH", path, headers, body)


def test_empty_appends_twice_in_a_row_never_freeze_the_server(server: Server) -> None:
    """The tus freeze (two empty PATCHes) tried on the draft's append: one per connection, then
    pipelined on one; each gets its final answer, the offset stays, real bytes still land."""
    path = create(server)
    for _ in range(2):
        answer = exchange(server.port, _append(path, 0, b""))
        assert len(statuses(answer)) == 1 and statuses(answer)[0] < 300, answer
    answer = exchange(server.port, _append(path, 0, b"") * 2, count=2)
    assert len(statuses(answer)) == 2 and all(code < 300 for code in statuses(answer)), answer
    assert offset(server, path) == 0
    assert statuses(exchange(server.port, _append(path, 0, b"abc"))) in ([201], [204])
    assert offset(server, path) == 3
    assert server.alive()


def test_a_trickling_client_that_vanishes_keeps_what_arrived(server: Server) -> None:
    path = create(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_append(path, 0, b"", length=100))
        for piece in (b"ab", b"cd", b"ef"):
            sock.sendall(piece)
    assert 0 <= offset(server, path) <= 6  # what the server received, never more; the lock is free again
    kept = offset(server, path)
    assert statuses(exchange(server.port, _append(path, kept, b"x"))) in ([201], [204])
    assert offset(server, path) == kept + 1
    answer = exchange(server.port, _append(path, 0 if kept else 5, b"y"))
    assert statuses(answer) == [409], answer  # a wrong offset: the draft's mismatching-offset problem
    assert server.alive()
