"""Declarative HTTP tests over the aiohttp test client, after tusd's ``httpTest``.

A ``TusCase`` names one request and what must come back; ``run`` sends it and checks the
status, the headers that must be there (exact values, or ``PRESENT``) and the headers that
must not. Every response is also checked for ``Tus-Resumable: 1.0.0`` (tus-spec C4), so no
test can forget it. aiohttp's automatic Content-Type is switched off: a case sends exactly
the headers it names.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDictProxy

OCTET = "application/offset+octet-stream"
TUS = {"Tus-Resumable": "1.0.0"}


class _Present:
    def __repr__(self) -> str:
        return "PRESENT"


PRESENT: Any = _Present()  # expect_headers value: the header must exist, any value


@dataclass
class Result:
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class TusCase:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | AsyncIterable[bytes] | None = None
    status: int = 204
    expect_headers: Mapping[str, Any] = field(default_factory=dict)
    absent_headers: Sequence[str] = ()
    tus: bool = True  # add Tus-Resumable: 1.0.0 unless the case names that header itself

    async def run(self, client: Any) -> Result:
        headers = dict(self.headers)
        if self.tus and not any(k.lower() == "tus-resumable" for k in headers):
            headers.update(TUS)
        async with client.request(
            self.method, self.path, headers=headers, data=self.body, skip_auto_headers=("Content-Type",)
        ) as response:
            body = await response.read()
            result = Result(response.status, response.reason or "", response.headers, body)
        where = f"{self.method} {self.path} -> {result.status} {body[:200]!r}"
        assert result.status == self.status, where
        assert result.headers.getall("Tus-Resumable", []) == ["1.0.0"], where
        for name, expected in self.expect_headers.items():
            assert name in result.headers, f"{where}: {name} missing"
            if expected is not PRESENT:
                assert result.headers[name] == expected, f"{where}: {name}={result.headers[name]!r}"
        for name in self.absent_headers:
            assert name not in result.headers, f"{where}: unexpected {name}={result.headers[name]!r}"
        return result


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def path_of(location: str) -> str:
    """The path of an absolute or relative Location."""
    return urlsplit(location).path


async def create(
    client: Any, length: int | None = 0, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
) -> str:
    """POST an upload (``length=None`` defers the length); return its path."""
    sent = {**TUS, **(headers or {})}
    if length is None:
        sent["Upload-Defer-Length"] = "1"
    else:
        sent["Upload-Length"] = str(length)
    if body is not None:
        sent["Content-Type"] = OCTET
    response = await client.post("/files/", headers=sent, data=body, skip_auto_headers=("Content-Type",))
    assert response.status == 201, await response.text()
    return path_of(response.headers["Location"])


async def patch(
    client: Any,
    path: str,
    offset: int,
    data: bytes | AsyncIterable[bytes],
    headers: Mapping[str, str] | None = None,
) -> Result:
    sent = {**TUS, "Content-Type": OCTET, "Upload-Offset": str(offset), **(headers or {})}
    async with client.patch(path, headers=sent, data=data, skip_auto_headers=("Content-Type",)) as response:
        return Result(response.status, response.reason or "", response.headers, await response.read())


async def head(client: Any, path: str) -> Result:
    async with client.head(path, headers=TUS) as response:
        return Result(response.status, response.reason or "", response.headers, await response.read())


async def offset_of(client: Any, path: str) -> int:
    result = await head(client, path)
    assert result.status == 200, result
    return int(result.headers["Upload-Offset"])


async def content_of(client: Any, path: str) -> bytes:
    """The stored bytes of a finished upload, through GET."""
    async with client.get(path, headers=TUS) as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def chunks(*parts: bytes) -> AsyncIterable[bytes]:
    """A chunked request body (aiohttp sends an async generator with Transfer-Encoding: chunked)."""
    for part in parts:
        yield part


async def upload_ids(client: Any) -> list[str]:
    """Every live upload in the app's store."""
    from tusd_py.keys import STORE

    return [upload_id async for upload_id in client.app[STORE].list_upload_ids()]


async def vanish(port: int, path: str, declared: int, body: bytes, extra: str = "") -> None:
    """Send a PATCH's headers and part of its body, then close the connection."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: {OCTET}\r\nContent-Length: {declared}\r\n{extra}\r\n".encode()
    )
    writer.write(body)
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await writer.wait_closed()
