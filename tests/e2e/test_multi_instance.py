"""Two real ``tusd-py serve`` processes sharing Redis and moto's S3, with no sticky sessions
(issue 3 "many instances"; tus-user-issues C11, C12): any instance continues any upload,
racing PATCHes never both win nor mix bytes, a hanging PATCH on one instance is stopped by a
HEAD on the other, and a SIGKILLed server's upload resumes from HEAD's offset."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import boto3
import pytest

from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE, free_port
from tests.fixtures.process import ServerProcess

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
TUSD_PY = Path(sys.executable).parent / "tusd-py"
LOCK_TIMEOUT = 5  # a release that does not arrive within this turns into a 423, failing the test
LOCK_TTL = 2


class Start(Protocol):
    def __call__(self, port: int | None = None) -> ServerProcess: ...


@dataclass
class Cluster:
    start: Start
    bucket: str
    endpoint: str
    servers: list[ServerProcess] = field(default_factory=list)

    def object(self, upload_id: str) -> bytes:
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        body: bytes = s3.get_object(Bucket=self.bucket, Key=upload_id)["Body"].read()
        return body


def wait_listening(server: ServerProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"tusd-py exited early:\n{server.log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"tusd-py did not listen on {server.port}:\n{server.log.read_text()}")


@pytest.fixture
def cluster(redis_url: str, moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> Iterator[Cluster]:
    env = {
        **os.environ,
        "TUSD_HOST": "127.0.0.1",
        "TUSD_STORE": "s3",
        "TUSD_DATA_DIR": str(tmp_path / "data"),  # the instances' one database (app.sqlite3) is here
        "TUSD_S3_BUCKET": s3_bucket,
        "TUSD_S3_ENDPOINT_URL": moto_endpoint,
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_S3_MIN_PART_SIZE": str(MOTO_MIN_PART_SIZE),  # moto's minimum: short parts happen too
        "TUSD_REDIS_URL": redis_url,
        "TUSD_MASTER_KEY": os.urandom(32).hex(),  # an S3 deployment must be given its key (never made up)
        "TUSD_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
        "TUSD_LOCK_TTL": str(LOCK_TTL),
        "TUSD_READ_TIMEOUT": "120",  # a hanging body must be ended by the lock release, not the watchdog
        "TUSD_SWEEP_INTERVAL": "3600",
        "TUSD_LOG_LEVEL": "info",
    }
    servers: list[ServerProcess] = []

    def start(port: int | None = None) -> ServerProcess:
        port = port or free_port()
        log = tmp_path / f"server-{port}-{len(servers)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(TUSD_PY), "serve"], env={**env, "TUSD_PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT
            )
        server = ServerProcess(port, proc, log)
        servers.append(server)
        wait_listening(server)
        return server

    yield Cluster(start, s3_bucket, moto_endpoint, servers)
    for server in servers:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


async def create(http: aiohttp.ClientSession, server: ServerProcess, length: int) -> str:
    async with http.post(f"{server.url}/files/", headers={**TUS, "Upload-Length": str(length)}) as resp:
        assert resp.status == 201, await resp.text()
        return resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]


async def head(http: aiohttp.ClientSession, server: ServerProcess, upload_id: str) -> int:
    async with http.head(f"{server.url}/files/{upload_id}", headers=TUS) as resp:
        assert resp.status == 200, resp.status
        return int(resp.headers["Upload-Offset"])


async def patch(
    http: aiohttp.ClientSession, server: ServerProcess, upload_id: str, offset: int, body: Any
) -> aiohttp.ClientResponse:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS}
    async with http.patch(f"{server.url}/files/{upload_id}", data=body, headers=headers) as resp:
        await resp.read()
        return resp


async def trickle(data: bytes, *, chunk: int = 64 * 1024, pause: float = 0.01) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), chunk):
        yield data[pos : pos + chunk]
        await asyncio.sleep(pause)


async def finish(http: aiohttp.ClientSession, server: ServerProcess, upload_id: str, data: bytes) -> None:
    """Resume as a tus client does: HEAD for the offset, then PATCH the rest."""
    offset = await head(http, server, upload_id)
    resp = await patch(http, server, upload_id, offset, data[offset:])
    assert resp.status == 204 and resp.headers["Upload-Offset"] == str(len(data))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_patches_alternating_between_instances_complete_byte_identical(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    a, b = cluster.start(), cluster.start()
    data = os.urandom(11 * MiB + 123)
    upload_id = await create(http, a, len(data))
    offset, turn = 0, 0
    while offset < len(data):
        server = (a, b)[turn % 2]
        resp = await patch(http, server, upload_id, offset, data[offset : offset + MiB])
        assert resp.status == 204
        offset, turn = int(resp.headers["Upload-Offset"]), turn + 1
        assert await head(http, (b, a)[turn % 2], upload_id) == offset  # the other instance agrees
    assert sha(cluster.object(upload_id)) == sha(data)
    async with http.get(f"{b.url}/files/{upload_id}") as resp:
        assert resp.status == 200 and sha(await resp.read()) == sha(data)


async def test_simultaneous_patches_on_two_instances_never_both_win_nor_mix(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    a, b = cluster.start(), cluster.start()
    mine, theirs = os.urandom(3 * MiB), os.urandom(3 * MiB)  # two clients, different bytes, same offset
    upload_id = await create(http, a, len(mine))
    results = await asyncio.gather(
        patch(http, a, upload_id, 0, trickle(mine)), patch(http, b, upload_id, 0, trickle(theirs))
    )
    statuses = sorted(r.status for r in results)
    assert statuses.count(204) <= 1 and set(statuses) <= {204, 409, 423}, statuses
    offset = await head(http, b, upload_id)
    if offset < len(mine):
        await finish(http, a, upload_id, mine)
    stored = cluster.object(upload_id)
    # Whatever was kept of the race is one client's prefix; the rest is what the resume sent.
    assert stored[:offset] in (mine[:offset], theirs[:offset]) and stored[offset:] == mine[offset:]
    assert len(stored) == len(mine)


async def test_a_head_on_one_instance_stops_a_hanging_patch_on_the_other(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    a, b = cluster.start(), cluster.start()
    data = os.urandom(2 * MiB)
    sent = 700 * 1024
    upload_id = await create(http, a, len(data))
    hang = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield data[:sent]
        await hang.wait()  # a client whose connection died without the server noticing

    hanging = asyncio.create_task(patch(http, a, upload_id, 0, body()))
    await asyncio.sleep(1.0)  # let the bytes reach instance A
    offset = await head(http, b, upload_id)  # 200, not 423: A released within the lock timeout
    assert offset == sent  # A saved every byte it had received
    resp = await asyncio.wait_for(hanging, 30)
    assert resp.status == 423 and resp.headers["Upload-Offset"] == str(sent)
    hang.set()
    await finish(http, b, upload_id, data)
    assert sha(cluster.object(upload_id)) == sha(data)


async def test_a_killed_server_s_upload_resumes_from_head_and_completes(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    a, b = cluster.start(), cluster.start()
    data = os.urandom(9 * MiB)
    upload_id = await create(http, a, len(data))
    resp = await patch(http, b, upload_id, 0, data[: 2 * MiB])  # some progress on the other instance
    assert resp.status == 204
    hang = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        async for chunk in trickle(data[2 * MiB : 8 * MiB]):
            yield chunk
        await hang.wait()

    killed = asyncio.create_task(patch(http, a, upload_id, 2 * MiB, body()))
    await asyncio.sleep(1.5)  # mid-PATCH: parts in flight, a tail unsaved, the lock held
    a.kill()
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(killed, 30)
    hang.set()
    a = cluster.start(a.port)  # the same address comes back
    offset = await head(http, a, upload_id)  # waits out the dead holder's lock TTL
    assert 2 * MiB <= offset <= 8 * MiB
    assert await head(http, b, upload_id) == offset
    await finish(http, b, upload_id, data)
    assert sha(cluster.object(upload_id)) == sha(data)
