"""GET /media under hostile input, on a raw socket (no HTTP library tidies the bytes): bad cursors
and limits, oversized and duplicated parts, a truncated request; the server answers after each."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from .accounts import login
from .conftest import MakeAuthClient

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


async def _raw(port: int, raw: bytes, *, timeout: float = 5.0) -> int | None:
    """Send ``raw``; the status of the answer, or None if the server closed without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)
        except asyncio.IncompleteReadError:
            return None
    finally:
        writer.close()
    match = _STATUS.match(head)
    assert match, head
    return int(match.group(1))


def _get(target: str, auth: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Connection: close\r\n\r\n".encode()


async def _answers(client: Any, auth: str) -> None:
    assert await _raw(client.port, _get("/media", auth)) == 200


@pytest.fixture
async def served(make_auth_client: MakeAuthClient) -> tuple[Any, str]:
    client = await make_auth_client()
    headers = await login(client)
    return client, f"Authorization: {headers['Authorization']}\r\n"


@pytest.mark.parametrize(
    "target",
    [
        "/media?cursor=%00",
        "/media?cursor=%0d%0aX-Injected:%201",
        "/media?cursor=" + "A" * 4000,
        "/media?cursor=====",
        "/media?cursor=..%2F..%2Fetc%2Fpasswd",
        "/media?limit=0x10",
        "/media?limit=" + "9" * 5000,
        "/media?limit=1&limit=1",
        "/media?cursor=&cursor=",
        "/media?limit=%",
    ],
)
async def test_hostile_queries_are_400(served: tuple[Any, str], target: str) -> None:
    client, auth = served
    assert await _raw(client.port, _get(target, auth)) == 400, target
    await _answers(client, auth)


async def test_an_empty_query_is_the_first_page(served: tuple[Any, str]) -> None:
    client, auth = served
    for target in ("/media?", "/media?cursor=", "/media?unknown=1"):
        assert await _raw(client.port, _get(target, auth)) == 200, target


async def test_an_oversized_request_line_is_refused(served: tuple[Any, str]) -> None:
    client, auth = served
    status = await _raw(client.port, _get("/media?cursor=" + "A" * 70000, auth))
    assert status in (400, 414, None)  # aiohttp's line limit: refused before any handler
    await _answers(client, auth)


async def test_duplicated_or_broken_authorization_is_never_a_listing(served: tuple[Any, str]) -> None:
    client, auth = served
    twice = await _raw(client.port, _get("/media", auth, auth))
    assert twice in (200, 400, 401)
    for bad in ("Authorization: Bearer \r\n", "Authorization: Bearer\r\n", "Authorization: \x01\r\n"):
        assert await _raw(client.port, _get("/media", bad)) in (400, 401), bad
    await _answers(client, auth)


async def test_a_truncated_request_gets_no_answer_and_breaks_nothing(served: tuple[Any, str]) -> None:
    client, auth = served
    _reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(f"GET /media?limit=5 HTTP/1.1\r\nHost: x\r\n{auth}"[:-10].encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await _answers(client, auth)


async def test_many_requests_in_one_connection(served: tuple[Any, str]) -> None:
    client, auth = served
    one = f"GET /media?limit=1 HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(one * 20)
    await writer.drain()
    seen = b""
    while len(_STATUS.findall(seen)) < 20:
        piece = await asyncio.wait_for(reader.read(65536), 5)
        if not piece:
            break
        seen += piece
    writer.close()
    assert [int(s) for s in _STATUS.findall(seen)] == [200] * 20
