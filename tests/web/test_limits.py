"""The limits of issue 11 in process: uploads in flight, the minimum body rate, event streams
(lifetime, per client) and the connection cap of the listening socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tusd_py.app import create_app
from tusd_py.keys import ADMISSION
from tusd_py.settings import Settings
from tusd_py.web.connections import CappedSite

from .helpers import OCTET, TUS, create, head, offset_of, patch

# -- uploads in flight ----------------------------------------------------------------------


async def _held(gate: asyncio.Event, first: bytes) -> AsyncIterator[bytes]:
    """A body that sends ``first``, then waits for ``gate`` before its last byte."""
    yield first
    await gate.wait()
    yield b"z"


async def _until(condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_body_beyond_the_uploads_in_flight_is_503_before_a_byte_is_read(make_client: Any) -> None:
    client = await make_client(max_uploads_in_flight=2, retry_after=7)
    admission = client.app[ADMISSION]
    paths = [await create(client, 10) for _ in range(3)]
    gate = asyncio.Event()
    held = [asyncio.create_task(patch(client, path, 0, _held(gate, b"abcd"))) for path in paths[:2]]
    await _until(lambda: admission.uploads == 2)

    busy = await patch(client, paths[2], 0, b"0123456789")
    assert busy.status == 503, busy
    assert busy.headers["Retry-After"] == "7"
    assert busy.body.startswith(b"ERR_SERVER_BUSY: ")
    assert await offset_of(client, paths[2]) == 0  # nothing of the refused body was stored
    assert (await head(client, paths[2])).status == 200  # requests without a body still pass
    assert await create(client, 5)  # so does a creation without a body

    gate.set()
    assert [result.status for result in await asyncio.gather(*held)] == [204, 204]
    assert admission.uploads == 0
    assert (await patch(client, paths[2], 0, b"0123456789")).status == 204


async def test_expect_100_continue_hears_503_instead_of_continue(make_client: Any) -> None:
    client = await make_client(max_uploads_in_flight=1)
    first, second = await create(client, 10), await create(client, 10)
    gate = asyncio.Event()
    held = asyncio.create_task(patch(client, first, 0, _held(gate, b"ab")))
    await _until(lambda: client.app[ADMISSION].uploads == 1)
    headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0"}
    async with client.patch(second, headers=headers, data=b"x" * 10, expect100=True) as response:
        assert response.status == 503 and "Retry-After" in response.headers
    gate.set()
    assert (await held).status == 204
    assert await offset_of(client, second) == 0


async def test_the_count_is_exact_after_errors_and_vanished_clients(make_client: Any) -> None:
    client = await make_client(max_uploads_in_flight=1)
    admission = client.app[ADMISSION]
    path = await create(client, 10)
    assert (await patch(client, path, 3, b"abc")).status == 409  # the handler raised
    assert admission.uploads == 0
    gate = asyncio.Event()
    vanishing = asyncio.create_task(patch(client, path, 0, _held(gate, b"ab")))
    await _until(lambda: admission.uploads == 1)
    vanishing.cancel()  # the client goes away mid-body
    await _until(lambda: admission.uploads == 0)
    offset = await offset_of(client, path)
    assert (await patch(client, path, offset, b"x" * (10 - offset))).status == 204


# -- minimum body rate ----------------------------------------------------------------------


async def _trickle(piece: bytes, every: float, times: int) -> AsyncIterator[bytes]:
    for _ in range(times):
        yield piece
        await asyncio.sleep(every)


async def test_a_body_slower_than_the_minimum_rate_is_ended_and_its_bytes_kept(make_client: Any) -> None:
    client = await make_client(min_body_rate=100, body_rate_window=0.5, read_timeout=60)
    path = await create(client, 1000)
    # 5 bytes every 0.05 s = 50 bytes per window: never silent, but half the minimum
    result = await asyncio.wait_for(patch(client, path, 0, _trickle(b"abcde", 0.05, 200)), 8)
    assert result.status == 500, result
    assert b"ERR_READ_INTERRUPTED: the body is slower than 100 bytes per 0.5s" in result.body
    kept = int(result.headers["Upload-Offset"])
    assert 0 < kept < 1000
    assert await offset_of(client, path) == kept  # the client resumes from there


async def test_a_body_at_the_minimum_rate_is_not_ended(make_client: Any) -> None:
    client = await make_client(min_body_rate=100, body_rate_window=0.3, read_timeout=60)
    path = await create(client, 300)
    result = await patch(client, path, 0, _trickle(b"x" * 30, 0.05, 10))  # 180 bytes per window
    assert result.status == 204, result
    assert await offset_of(client, path) == 300


async def test_no_minimum_rate_when_it_is_zero(make_client: Any) -> None:
    client = await make_client(min_body_rate=0, body_rate_window=0.2, read_timeout=60)
    path = await create(client, 8)
    assert (await patch(client, path, 0, _trickle(b"x", 0.1, 8))).status == 204


# -- event streams --------------------------------------------------------------------------


async def test_an_event_stream_ends_at_its_lifetime(make_client: Any) -> None:
    client = await make_client(sse_max_lifetime=0.5)
    upload_id = (await create(client, 10)).rsplit("/", 1)[1]  # never finished
    response = await client.get(f"/media/{upload_id}/events")
    assert response.status == 200
    text = await asyncio.wait_for(response.content.read(), 10)  # the stream ends: EOF
    assert text.startswith(b"id: 0\nevent: progress\n")
    assert text.endswith(b": lifetime reached, reconnect\n\n")
    assert client.app[ADMISSION].streams == {}
    assert (await client.get(f"/media/{upload_id}")).status == 200


async def test_a_client_holds_at_most_sse_per_client_streams(make_client: Any) -> None:
    client = await make_client(sse_per_client=2, retry_after=3)
    upload_id = (await create(client, 10)).rsplit("/", 1)[1]
    url = f"/media/{upload_id}/events"
    open_ = []
    for _ in range(2):
        response = await client.get(url)
        assert response.status == 200
        await asyncio.wait_for(response.content.readline(), 5)
        open_.append(response)
    refused = await client.get(url)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "3"
    assert (await refused.text()).startswith("ERR_TOO_MANY_REQUESTS: ")
    assert (await client.get(f"/media/{upload_id}")).status == 200  # only streams are capped
    open_.pop().close()
    await _until(lambda: sum(client.app[ADMISSION].streams.values()) == 1)
    again = await client.get(url)
    assert again.status == 200
    again.close()
    for response in open_:
        response.close()


# -- connections ----------------------------------------------------------------------------


async def _started(settings: Settings, max_connections: int) -> tuple[web.AppRunner, CappedSite]:
    runner = web.AppRunner(create_app(settings, background=False), access_log=None)
    await runner.setup()
    site = CappedSite(runner, "127.0.0.1", 0, max_connections=max_connections, retry_after=9)
    await site.start()
    return runner, site


async def _options(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_a_connection_beyond_the_cap_is_answered_503_and_closed(make_settings: Any) -> None:
    runner, site = await _started(make_settings(), 2)
    try:
        idle = [await asyncio.open_connection("127.0.0.1", site.port) for _ in range(2)]
        await _until(lambda: site.cap is not None and site.cap.open == 2)
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)  # read() returns at EOF: it was closed
        writer.close()
        head_, _, body = answer.partition(b"\r\n\r\n")
        assert head_.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        for line in (b"Retry-After: 9", b"Connection: close", b"Tus-Resumable: 1.0.0"):
            assert line in head_.split(b"\r\n")
        assert body.startswith(b"ERR_SERVER_BUSY: 2 connections")
        assert site.cap is not None and site.cap.open == 2  # the refused one never counted

        idle[0][1].close()
        await _until(lambda: site.cap is not None and site.cap.open == 1)
        assert (await _options(site.port)).startswith(b"HTTP/1.1 204 ")
        await _until(lambda: site.cap is not None and site.cap.open == 1)
        idle[1][1].close()
        await _until(lambda: site.cap is not None and site.cap.open == 0)
    finally:
        await runner.cleanup()


async def test_no_cap_serves_aiohttps_own_factory(make_settings: Any) -> None:
    runner, site = await _started(make_settings(), 0)
    try:
        assert site.cap is None
        assert (await _options(site.port)).startswith(b"HTTP/1.1 204 ")
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("limit", [1, 3])
async def test_many_connections_at_once_never_exceed_the_cap(make_settings: Any, limit: int) -> None:
    runner, site = await _started(make_settings(), limit)
    try:
        answers = await asyncio.gather(*(_options(site.port) for _ in range(12)))
        statuses = sorted(answer[9:12] for answer in answers)
        assert set(statuses) <= {b"204", b"503"} and b"204" in statuses
        assert site.cap is not None
        await _until(lambda: site.cap is not None and site.cap.open == 0)
        assert (await _options(site.port)).startswith(b"HTTP/1.1 204 ")
    finally:
        await runner.cleanup()
