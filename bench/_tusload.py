"""The tus load generator: each upload is a POST then PATCHes, sent with aiohttp's client.

Bodies are streamed from one reusable random block (4 MiB), so the client never holds an
upload in memory whatever its size; ``Content-Length`` is always sent (no chunked bodies).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

MiB = 1024 * 1024
_SLICE = 256 * 1024  # bytes per write into the connection
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass(frozen=True)
class Workload:
    name: str
    uploads: int
    size: int  # bytes per upload
    patch_size: int  # bytes per PATCH (= size for a single PATCH)
    concurrency: int

    @property
    def total(self) -> int:
        return self.uploads * self.size

    @property
    def single_patch(self) -> bool:
        """The memory workload: one upload in one PATCH."""
        return self.uploads == 1 and self.patch_size >= self.size


class Payload:
    """Random bytes, reused: slices of one block, never a whole upload."""

    def __init__(self, block_size: int = 4 * MiB) -> None:
        self.block = os.urandom(block_size)

    async def stream(self, size: int) -> AsyncIterator[memoryview]:
        view, block_len, sent = memoryview(self.block), len(self.block), 0
        while sent < size:
            at = sent % block_len
            n = min(_SLICE, size - sent, block_len - at)
            yield view[at : at + n]
            sent += n


class LoadError(Exception):
    """The server answered something a correct tus server would not."""


async def _expect(resp: aiohttp.ClientResponse, status: int, what: str) -> None:
    if resp.status != status:
        text = (await resp.text())[:300]
        raise LoadError(f"{what}: HTTP {resp.status} (expected {status}): {text}")


async def upload_one(session: aiohttp.ClientSession, endpoint: str, w: Workload, payload: Payload) -> str:
    """One upload, POST then PATCHes; returns its URL."""
    async with session.post(endpoint, headers={**TUS, "Upload-Length": str(w.size)}) as resp:
        await _expect(resp, 201, "POST")
        url = urljoin(endpoint, resp.headers["Location"])
    offset = 0
    while offset < w.size:
        n = min(w.patch_size, w.size - offset)
        headers = {
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(n),
        }
        async with session.patch(url, data=payload.stream(n), headers=headers) as resp:
            await _expect(resp, 204, "PATCH")
            offset = int(resp.headers["Upload-Offset"])
    if offset != w.size:
        raise LoadError(f"{url}: offset {offset} after the last PATCH, expected {w.size}")
    return url


async def run_workload(
    endpoint: str, w: Workload, payload: Payload, headers: dict[str, str] | None = None
) -> tuple[float, list[str]]:
    """Seconds from the first POST to the last PATCH answer, and the upload URLs. ``headers`` go
    on every request (``Authorization`` for a server with accounts)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(w.uploads):
        queue.put_nowait(i)
    urls: list[str] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
    connector = aiohttp.TCPConnector(limit=w.concurrency)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                urls.append(await upload_one(session, endpoint, w, payload))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(w.concurrency)))
        return time.perf_counter() - t0, urls
