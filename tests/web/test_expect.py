"""Expect: 100-continue: the headers are judged before the client sends the body (tus-spec CU4)."""

from __future__ import annotations

import asyncio
from typing import Any


async def _exchange(port: int, head: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(4096), 5)  # the body is never sent
    writer.close()
    return data


async def test_oversized_post_is_refused_before_the_body(make_client: Any) -> None:
    client = await make_client(max_size=1000)
    port = client.port
    answer = await _exchange(
        port,
        "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 5000\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"Tus-Resumable: 1.0.0" in answer
    assert b"100 Continue" not in answer


async def test_a_post_above_the_default_10_gib_is_refused_before_the_body(make_client: Any) -> None:
    client = await make_client()
    too_big = 10 * 1024**3 + 1
    answer = await _exchange(
        client.port,
        f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {too_big}\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {too_big}\r\n"
        "Expect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in answer


async def test_wrong_version_is_refused_before_the_body(make_client: Any) -> None:
    client = await make_client()
    answer = await _exchange(
        client.port,
        "PATCH /files/abc HTTP/1.1\r\nHost: x\r\nTus-Resumable: 0.2.2\r\nUpload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 412")
    assert b"Tus-Version: 1.0.0" in answer


async def test_valid_patch_gets_100_continue_then_stores_the_body(client: Any) -> None:
    created = await client.post("/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5"})
    path = "/files/" + created.headers["Location"].rsplit("/", 1)[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    writer.write(b"hello")
    final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert final.startswith(b"HTTP/1.1 204")
    assert b"Upload-Offset: 5" in final
