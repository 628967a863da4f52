"""Stalled clients do not starve a normal upload (issue 11), on both stores.

40 connections stall beside the upload: some sent part of a request head, some sent the head of
a PATCH with Content-Length and only part of its body, some were opened and sent nothing. A
normal tus upload of a few MiB (aiohttp client, POST and PATCHes) must still finish with the
right bytes. Once the stalled clients go away, the server still answers and each stalled PATCH
kept exactly the bytes it delivered (HEAD says so)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import time
from pathlib import Path

import aiohttp

from .deployments import Deployment
from .fuzzcases import OCTETS
from .server import running
from .wire import tus_create, tus_offset

STALLED = 40
UPLOAD_SIZE = 4 * 1024 * 1024
CHUNK = 1024 * 1024
STALLED_SIZE = 100_000
DEADLINE = 20.0  # generous: the upload takes well under a second on an idle machine
TUS = {"Tus-Resumable": "1.0.0"}


async def normal_upload(url: str, data: bytes) -> str:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as http:
        async with http.post(f"{url}/files/", headers={**TUS, "Upload-Length": str(len(data))}) as resp:
            assert resp.status == 201, await resp.text()
            location = resp.headers["Location"]
        offset = 0
        while offset < len(data):
            headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS}
            async with http.patch(location, data=data[offset : offset + CHUNK], headers=headers) as resp:
                assert resp.status == 204, await resp.text()
                offset = int(resp.headers["Upload-Offset"])
        async with http.get(location) as resp:
            assert resp.status == 200
            got = await resp.read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), "the upload's bytes differ"
        return location


async def test_stalled_connections_beside_a_normal_upload(deployment: Deployment, tmp_path: Path) -> None:
    rng = random.Random(11)
    with running(tmp_path, deployment.env) as server:
        port = server.port
        stalled: list[socket.socket] = []
        partial_bodies: dict[str, int] = {}  # upload path -> bytes its stalled PATCH sent
        try:
            for i in range(STALLED):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                stalled.append(sock)
                kind = i % 3
                if kind == 0:  # part of a request head
                    head = f"PATCH /files/{'0' * 32} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Off"
                    sock.sendall(head.encode()[: rng.randint(1, 70)])
                elif kind == 1:  # the head of a PATCH and only part of its body
                    path = tus_create(port, STALLED_SIZE)
                    sent = rng.randint(1, 5000)
                    sock.sendall(
                        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                        f"Content-Type: {OCTETS}\r\nContent-Length: {STALLED_SIZE}\r\n\r\n".encode()
                        + os.urandom(sent)
                    )
                    partial_bodies[path] = sent
                # kind 2: connected, nothing sent
            data = os.urandom(UPLOAD_SIZE)
            started = time.monotonic()
            await asyncio.wait_for(normal_upload(server.url, data), DEADLINE)
            elapsed = time.monotonic() - started
            print(f"{deployment}: {UPLOAD_SIZE} bytes beside {STALLED} stalled connections in {elapsed:.2f}s")
            assert server.alive(timeout=5)
        finally:
            for sock in stalled:
                sock.close()
        assert server.alive(timeout=5), "the server stopped answering once the stalled clients left"
        deadline = time.monotonic() + 15
        offsets: dict[str, int] = {}
        while time.monotonic() < deadline:
            offsets = {path: tus_offset(port, path) for path in partial_bodies}
            if offsets == partial_bodies:
                break
            await asyncio.sleep(0.2)
        assert offsets == partial_bodies, "a stalled PATCH did not keep exactly the bytes it sent"
