"""Empty bodies never freeze the server (issue 11, item 1).

aiohttp hands every body-less request one shared empty stream, and reading it a second time
spins the event loop forever. Every case here goes through a real server and raw sockets, and
each ends by checking that the server still answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import Server, create, request, running

EMPTY_PATCH = (
    "PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
    "Content-Type: application/offset+octet-stream\r\nContent-Length: 0\r\n\r\n"
)
EMPTY_POST = (
    "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\n"
    "Content-Type: application/offset+octet-stream\r\nContent-Length: 0\r\n\r\n"
)
CHUNKED_PATCH = (
    "PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
    "Content-Type: application/offset+octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("freeze")) as server:
        yield server


@pytest.mark.parametrize("times", [2, 10])
def test_empty_patches_on_one_connection_and_on_many(server: Server, times: int) -> None:
    path = create(server.port, 10)
    # one request per connection, as in the report
    for _ in range(times):
        assert request(server.port, EMPTY_PATCH.format(path=path).encode(), timeout=5) == [204]
    # and pipelined on one keep-alive connection
    pipelined = EMPTY_PATCH.format(path=path).encode() * times
    assert request(server.port, pipelined, count=times, timeout=5) == [204] * times
    assert server.alive()


def test_empty_creation_with_upload_posts(server: Server) -> None:
    for _ in range(2):
        assert request(server.port, EMPTY_POST.encode(), timeout=5) == [201]
    assert request(server.port, EMPTY_POST.encode() * 3, count=3, timeout=5) == [201] * 3
    assert server.alive()


def test_empty_chunked_bodies(server: Server) -> None:
    path = create(server.port, 10)
    for _ in range(3):
        assert request(server.port, CHUNKED_PATCH.format(path=path).encode(), timeout=5) == [204]
    post = (
        "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\n"
        "Content-Type: application/offset+octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert request(server.port, post.encode() * 2, count=2, timeout=5) == [201, 201]
    assert server.alive()


def test_empty_patch_between_real_bytes_keeps_the_offset(server: Server) -> None:
    path = create(server.port, 10)
    assert request(server.port, EMPTY_PATCH.format(path=path).encode()) == [204]
    data = (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 4\r\n\r\nabcd"
    )
    assert request(server.port, data.encode()) == [204]
    after = EMPTY_PATCH.format(path=path).replace("Upload-Offset: 0", "Upload-Offset: 4")
    assert request(server.port, after.encode() * 2, count=2) == [204, 204]
    head = f"HEAD {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n"
    from .server import exchange

    assert b"Upload-Offset: 4\r\n" in exchange(server.port, head.encode())
    assert server.alive()


def test_the_server_is_real(tmp_path: Path) -> None:
    """The fixture is a separate process: a killed one stops answering (the checks above can fail)."""
    with running(tmp_path) as server:
        assert server.alive()
        server.kill()
        assert not server.alive(timeout=1)
