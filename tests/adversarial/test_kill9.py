"""kill -9 in the middle of 20 uploads, on both stores (docs/operations.md, "Crash recovery").

20 clients upload 1-4 MiB of random bytes each, in PATCHes whose bodies trickle in. Once about
40 % of all bytes are acknowledged the server gets SIGKILL; a new server starts on the same
port and the same data directory (file store) or the same bucket and Redis (S3 store). Every
client resumes from HEAD's offset, which must never be below what a 204 acknowledged before
the kill, and finishes. Each upload then downloads with exactly its sha256."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .deployments import Deployment
from .fuzzcases import OCTETS
from .server import Server, start_server

CLIENTS = 20
MiB = 1024 * 1024
PATCH_SIZE = 512 * 1024
PIECE = 64 * 1024
KILL_AT = 0.4
DEADLINE = 90.0
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Client:
    data: bytes
    location: str = ""
    acked: int = 0  # the offset the last 204 reported
    resumed_from: list[int] = field(default_factory=list)  # HEAD offsets after failures
    problems: list[str] = field(default_factory=list)


async def trickle(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), PIECE):
        yield body[start : start + PIECE]
        await asyncio.sleep(0.005)


async def head(http: aiohttp.ClientSession, location: str) -> int | None:
    try:
        async with http.head(location, headers=TUS) as resp:
            return int(resp.headers["Upload-Offset"]) if resp.status == 200 else None
    except (TimeoutError, aiohttp.ClientError):
        return None


async def upload(http: aiohttp.ClientSession, client: Client) -> None:
    offset, lost = 0, False
    while client.acked < len(client.data):
        if lost:  # the connection broke or the server refused: where does the server say we are?
            found = await head(http, client.location)
            if found is None:
                await asyncio.sleep(0.1)  # the server is down (or its lock not yet expired)
                continue
            if found < client.acked:
                client.problems.append(f"HEAD says {found} after a 204 acknowledged {client.acked}")
            client.resumed_from.append(found)
            offset, lost = found, False
        body = client.data[offset : offset + PATCH_SIZE]
        headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS, "Content-Length": str(len(body))}
        try:
            async with http.patch(client.location, data=trickle(body), headers=headers) as resp:
                text = await resp.text()
                if resp.status == 204:
                    offset = client.acked = int(resp.headers["Upload-Offset"])
                    continue
                if resp.status >= 500 and resp.status != 503:
                    client.problems.append(f"PATCH at {offset}: {resp.status} {text.strip()}")
                lost = True
        except (TimeoutError, aiohttp.ClientError):
            lost = True


async def test_kill9_mid_upload_and_resume(deployment: Deployment, tmp_path: Path) -> None:
    rng = random.Random(9)
    clients = [Client(os.urandom(rng.randint(1 * MiB, 4 * MiB))) for _ in range(CLIENTS)]
    total = sum(len(c.data) for c in clients)
    server = start_server(tmp_path, deployment.env)
    servers: list[Server] = [server]
    try:
        timeout = aiohttp.ClientTimeout(total=30, sock_connect=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for client in clients:
                headers = {**TUS, "Upload-Length": str(len(client.data))}
                async with http.post(f"{server.url}/files/", headers=headers) as resp:
                    assert resp.status == 201, await resp.text()
                    client.location = resp.headers["Location"]
            tasks = [asyncio.create_task(upload(http, c)) for c in clients]
            started = time.monotonic()
            while sum(c.acked for c in clients) < KILL_AT * total:
                assert time.monotonic() - started < DEADLINE, "the uploads did not get going"
                await asyncio.sleep(0.005)
            at_kill = [c.acked for c in clients]
            server.kill()
            assert sum(at_kill) < total, "every upload had finished before the kill"
            restarted = await asyncio.to_thread(start_server, tmp_path, deployment.env, server.port)
            servers.append(restarted)
            await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
            elapsed = time.monotonic() - started
            print(
                f"{deployment}: killed at {sum(at_kill)}/{total} bytes acknowledged "
                f"({sum(a < len(c.data) for a, c in zip(at_kill, clients, strict=True))} uploads unfinished); "
                f"all {CLIENTS} done {elapsed:.1f}s after the start"
            )
            resumed = sum(bool(c.resumed_from) for c in clients)
            print(f"{deployment}: {resumed} clients resumed from HEAD")
            assert resumed, "the kill broke no request: nothing was tested"
            problems = [f"upload {i}: {p}" for i, c in enumerate(clients) for p in c.problems]
            assert not problems, "\n".join(problems)
            for i, client in enumerate(clients):
                async with http.get(client.location) as resp:
                    assert resp.status == 200, (i, resp.status, await resp.text())
                    got = await resp.read()
                assert hashlib.sha256(got).hexdigest() == hashlib.sha256(client.data).hexdigest(), (
                    f"upload {i}: {len(got)} bytes downloaded, {len(client.data)} uploaded; "
                    f"acknowledged {at_kill[i]} before the kill, resumed from {client.resumed_from}"
                )
        assert restarted.alive()
    finally:
        for s in servers:
            s.stop()
