"""Locks and interrupted bodies over HTTP (issue 2: "Interrupted PATCH", "Locks"; tus-spec C23, K8, X5).

A request that holds an upload's lock while its client has gone quiet is asked to stop by the
next request for that upload: it keeps what it received and lets go, so the newcomer gets an
answer in about a second instead of a 4xx that makes tus-js-client start over.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from aiohttp import streams

from tusd_py.keys import SERVICE
from tusd_py.web.body import AiohttpBody

from .helpers import OCTET, TUS, b64, content_of, create, head, offset_of, patch, vanish

RETRYABLE = {409, 423}  # the only 4xx tus-js-client retries instead of restarting


async def _stored(client: Any, upload_id: str) -> int:
    """Lock-free offset (never asks a running PATCH to stop)."""
    return (await client.app[SERVICE].info(upload_id)).offset


async def _until_unlocked(client: Any, upload_id: str, expected: int | None = None) -> None:
    """Wait until the server noticed the end of a body: the lock is free (and, if given, the
    lock-free offset reached ``expected``). Gives up quietly; the caller's asserts then say why."""
    locker = client.app[SERVICE].locker
    for _ in range(200):
        await asyncio.sleep(0.025)
        if not locker.is_locked(upload_id) and (expected is None or await _stored(client, upload_id) == expected):
            return


async def _settle(client: Any, upload_id: str, store: str, sent: int) -> None:
    """Let the server read what was sent. The memory store shows every chunk at once; the file
    store batches writes, so give its reader a moment (client and server share this loop)."""
    if store == "memory":
        for _ in range(200):
            if await _stored(client, upload_id) == sent:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the server never read the bytes")
    await asyncio.sleep(0.3)


@pytest.mark.parametrize("store", ["file", "memory"])
async def test_a_hanging_patch_yields_to_the_next_request(make_client: Any, store: str) -> None:
    client = await make_client(store=store, lock_timeout=10)
    path = await create(client, 1000)
    upload_id = path.rsplit("/", 1)[1]
    sent, release = asyncio.Event(), asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 300
        sent.set()
        await release.wait()  # the client goes quiet without closing
        yield b"a" * 700

    headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Content-Length": "1000"}
    first = asyncio.create_task(client.patch(path, headers=headers, data=body()))
    try:
        await asyncio.wait_for(sent.wait(), 5)
        await _settle(client, upload_id, store, 300)
        # Without lock release this HEAD would wait lock_timeout (10 s) and then get 423.
        answer = await asyncio.wait_for(head(client, path), 5)
        assert answer.status == 200, answer
        assert answer.headers["Upload-Offset"] == "300"
        response = await asyncio.wait_for(first, 5)
        assert response.status >= 500 or response.status in RETRYABLE
        assert response.headers["Upload-Offset"] == "300"
    finally:
        release.set()
        if not first.done():
            first.cancel()
    # The client resumes from the offset the server gave it.
    assert (await patch(client, path, 300, b"b" * 700)).status == 204
    assert await content_of(client, path) == b"a" * 300 + b"b" * 700


async def test_a_new_patch_takes_over_from_a_hanging_one(make_client: Any) -> None:
    client = await make_client(store="memory", lock_timeout=10)
    path = await create(client, 100)
    upload_id = path.rsplit("/", 1)[1]
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 40
        await release.wait()
        yield b"a" * 60

    headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Content-Length": "100"}
    first = asyncio.create_task(client.patch(path, headers=headers, data=body()))
    try:
        await _settle(client, upload_id, "memory", 40)
        # The reconnecting client does not know the offset yet: 409 (retryable) with the offset.
        stale = await asyncio.wait_for(patch(client, path, 0, b"b" * 100), 5)
        assert stale.status == 409 and stale.headers["Upload-Offset"] == "40"
        resumed = await asyncio.wait_for(patch(client, path, 40, b"b" * 60), 5)
        assert resumed.status == 204 and resumed.headers["Upload-Offset"] == "100"
    finally:
        release.set()
        if not first.done():
            first.cancel()
    assert await content_of(client, path) == b"a" * 40 + b"b" * 60


@pytest.mark.parametrize("store", ["file", "memory"])
async def test_concurrent_patches_never_interleave(make_client: Any, store: str) -> None:
    client = await make_client(store=store)
    size = 2000
    path = await create(client, size)

    async def slow(letter: bytes) -> AsyncIterator[bytes]:
        for _ in range(20):
            yield letter * 100
            await asyncio.sleep(0.01)

    results = await asyncio.gather(
        patch(client, path, 0, slow(b"a")), patch(client, path, 0, slow(b"b")), return_exceptions=True
    )
    for result in results:
        assert isinstance(result, BaseException) or result.status in {204, 409, 423, 500}, result
    offset = await offset_of(client, path)
    if offset < size:
        assert (await patch(client, path, offset, b"c" * (size - offset))).status == 204
    data = await content_of(client, path)
    stored = data[:offset]
    assert stored in (b"a" * offset, b"b" * offset), stored  # one clean sequence, never a mix
    assert data[offset:] == b"c" * (size - offset)


@pytest.mark.parametrize("store", ["file", "memory"])
async def test_a_vanished_client_keeps_exactly_what_arrived(make_client: Any, store: str) -> None:
    client = await make_client(store=store)
    data = bytes(range(256)) * 8
    path = await create(client, len(data))
    upload_id = path.rsplit("/", 1)[1]
    await vanish(client.port, path, len(data), data[:1000])
    await _until_unlocked(client, upload_id, 1000)
    assert await offset_of(client, path) == 1000
    assert (await patch(client, path, 1000, data[1000:])).status == 204
    assert await content_of(client, path) == data


async def test_head_while_the_server_notices_never_says_more_than_arrived(client: Any) -> None:
    path = await create(client, 4000)
    await vanish(client.port, path, 4000, b"x" * 1500)
    seen = []
    for _ in range(20):  # HEAD right away: it may cut the body short, never extend it
        seen.append(await offset_of(client, path))
        if seen[-1] == 1500:
            break
        await asyncio.sleep(0.05)
    assert all(offset <= 1500 for offset in seen), seen
    assert seen == sorted(seen)


async def test_a_vanished_checksummed_body_keeps_nothing(client: Any) -> None:
    data = b"z" * 2000
    path = await create(client, len(data))
    checksum = "Upload-Checksum: sha1 " + b64(hashlib.sha1(data).digest()) + "\r\n"
    await vanish(client.port, path, len(data), data[:1200], extra=checksum)
    await _until_unlocked(client, path.rsplit("/", 1)[1])
    assert await offset_of(client, path) == 0  # an unverifiable chunk is dropped whole (K8)


async def test_delete_stops_a_hanging_patch(client: Any) -> None:
    path = await create(client, 1000)
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 100
        await release.wait()

    headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Content-Length": "1000"}
    first = asyncio.create_task(client.patch(path, headers=headers, data=body()))
    try:
        await asyncio.sleep(0.3)  # let the PATCH take the lock and read its first bytes
        async with client.delete(path, headers=TUS) as deleted:
            assert deleted.status == 204
        await asyncio.wait_for(first, 5)
    finally:
        release.set()
        if not first.done():
            first.cancel()
    assert (await head(client, path)).status == 410
    assert (await patch(client, path, 100, b"b")).status == 410


async def test_a_hanging_checksummed_patch_yields_and_keeps_nothing(client: Any) -> None:
    path = await create(client, 1000)
    release = asyncio.Event()
    digest = b64(hashlib.sha1(b"a" * 1000).digest())

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 300
        await release.wait()
        yield b"a" * 700

    headers = {
        **TUS,
        "Content-Type": OCTET,
        "Upload-Offset": "0",
        "Content-Length": "1000",
        "Upload-Checksum": f"sha1 {digest}",
    }
    first = asyncio.create_task(client.patch(path, headers=headers, data=body()))
    try:
        await asyncio.sleep(0.3)
        answer = await asyncio.wait_for(head(client, path), 5)
        assert answer.status == 200 and answer.headers["Upload-Offset"] == "0"  # unverifiable: dropped (K8)
        response = await asyncio.wait_for(first, 5)
        assert response.status >= 500 or response.status in RETRYABLE
    finally:
        release.set()
        if not first.done():
            first.cancel()


@pytest.mark.parametrize("store", ["file", "memory"])
async def test_a_reset_connection_keeps_every_byte_the_server_read(
    make_client: Any, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TCP reset drops what the kernel still buffered; every byte aiohttp was fed must be kept."""
    client = await make_client(store=store)
    n = 2_000_000
    path = await create(client, 2 * n)
    fed = [0]
    feed_data = streams.StreamReader.feed_data

    def counting(self: Any, data: bytes, *args: Any, **kwargs: Any) -> Any:
        fed[0] += len(data)
        return feed_data(self, data, *args, **kwargs)

    monkeypatch.setattr(streams.StreamReader, "feed_data", counting)
    _reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: {OCTET}\r\nContent-Length: {2 * n}\r\n\r\n".encode()
        + b"r" * n
    )
    await writer.drain()
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()  # SO_LINGER 0: an RST, not a FIN
    await writer.wait_closed()
    upload_id = path.rsplit("/", 1)[1]
    for _ in range(200):  # until the server noticed the reset and stored what it read
        await asyncio.sleep(0.025)
        if not client.app[SERVICE].locker.is_locked(upload_id) and await _stored(client, upload_id) == fed[0]:
            break
    monkeypatch.undo()
    offset = await offset_of(client, path)
    assert 0 < offset <= n
    assert offset == fed[0]


async def test_a_stop_request_keeps_bytes_that_already_arrived() -> None:
    """Lock release while the handler is busy storing (not waiting for the socket): what the
    server already buffered is still handed to the store (tus-spec C23), then the body ends."""
    protocol = mock.Mock(_reading_paused=False)
    content = streams.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    request = SimpleNamespace(content=content, headers={"Content-Length": "100"}, content_length=100, body_exists=True)
    body = AiohttpBody(request, read_timeout=5)  # type: ignore[arg-type]
    content.feed_data(b"a" * 10)
    received = []
    async for chunk in body:
        received.append(chunk)
        if len(received) == 1:  # the store is busy with the first chunk while more arrives
            content.feed_data(b"b" * 20)
            content.feed_data(b"c" * 5)
            body.stop()
    assert b"".join(received) == b"a" * 10 + b"b" * 20 + b"c" * 5
    assert body.stopped and body.received == 35 and body.error is None


async def test_a_stop_request_wakes_a_pending_read() -> None:
    protocol = mock.Mock(_reading_paused=False)
    content = streams.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    request = SimpleNamespace(content=content, headers={"Content-Length": "100"}, content_length=100, body_exists=True)
    body = AiohttpBody(request, read_timeout=5)  # type: ignore[arg-type]
    content.feed_data(b"a" * 10)

    async def consume() -> bytes:
        return b"".join([chunk async for chunk in body])

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)  # the body now waits for the socket
    body.stop()
    assert await asyncio.wait_for(task, 5) == b"a" * 10
    assert body.stopped and body.error is None
