"""A whole deployment in processes for the outage tests: a redis-server with its AOF and a moto S3
server, each stopped and started again on the same port by the test, one ``tusd-py serve`` and
``tusd-py worker`` processes, and a small tus client over aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import redis

from tests.adversarial.server import Server, start_server
from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE, free_port

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


class RedisProcess:
    """redis-server on a fixed port with ``appendonly yes`` and ``appendfsync always``: a restart
    reloads every write it acknowledged."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.workdir)]
        args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen([self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        with redis.Redis.from_url(self.url) as client:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                    assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis-server syncs its AOF and exits
            self.proc.wait(timeout=20)
        self.proc = None


class MotoProcess:
    """moto's S3 on a fixed port; its objects live in this process's moto backend, so a server
    stopped and started again on the same port still has them (S3 was unreachable, not lost)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.factory = ThreadedMotoServer
        self.port = free_port()
        self.server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = self.factory(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@dataclass
class Deployment:
    tmp: Path
    redis: RedisProcess
    moto: MotoProcess
    bucket: str
    env: dict[str, str]
    server: Server | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def start_server(self) -> None:
        self.server = start_server(self.tmp, self.env)

    def start_worker(self, **extra: str) -> subprocess.Popen[bytes]:
        assert self.server is not None
        env = {**os.environ, **self.env, "TUSD_DATA_DIR": str(self.server.data_dir), **extra}
        log = self.tmp / f"worker-{len(self.workers)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tusd_py", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill takes the pool children too
            )
        self.workers.append(proc)
        return proc

    def worker_log(self, index: int = -1) -> list[dict[str, Any]]:
        """The JSON lines of a worker's log (its arq banner lines are not JSON)."""
        lines = (self.tmp / f"worker-{index % len(self.workers)}.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.server is not None:
            self.server.stop()
        self.moto.stop()
        self.redis.stop()


def deploy(tmp: Path, **env: str) -> Deployment:
    """Redis (AOF), moto and the server's environment; the caller starts server and workers."""
    redis_process, moto = RedisProcess(tmp / "redis"), MotoProcess()
    redis_process.start()
    moto.start()
    # moto keeps its buckets in this process's memory, shared by every in-process server: a bucket
    # per deployment, or its sweeper finds (and repairs) the uploads an earlier test left behind
    bucket = f"outage-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    full_env = {
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": bucket,
        "TUSD_S3_ENDPOINT_URL": moto.endpoint,
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_S3_MIN_PART_SIZE": str(MOTO_MIN_PART_SIZE),
        "TUSD_REDIS_URL": redis_process.url,
        "TUSD_MASTER_KEY": os.urandom(32).hex(),
        "TUSD_LADDER_HEIGHTS": "240",
        "TUSD_LOG_LEVEL": "info",
        "TUSD_LOG_FORMAT": "json",
        **env,
    }
    return Deployment(tmp, redis_process, moto, bucket, full_env)


class Tus:
    """The few tus calls the tests make, answers as (status, headers, body)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def create(self, length: int, name: str = "clip.mp4") -> str:
        import base64

        meta = f"filename {base64.b64encode(name.encode()).decode()}"
        headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": meta}
        async with self.http.post(f"{self.base}/files/", headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            return resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]

    async def patch(self, upload_id: str, offset: int, data: bytes) -> tuple[int, str]:
        headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS}
        async with self.http.patch(f"{self.base}/files/{upload_id}", data=data, headers=headers) as resp:
            return resp.status, await resp.text()

    async def head(self, upload_id: str) -> tuple[int, int]:
        async with self.http.head(f"{self.base}/files/{upload_id}", headers=TUS) as resp:
            return resp.status, int(resp.headers.get("Upload-Offset", "-1"))

    async def get(self, upload_id: str) -> tuple[int, bytes]:
        async with self.http.get(f"{self.base}/files/{upload_id}") as resp:
            return resp.status, await resp.read()

    async def status(self, upload_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/media/{upload_id}") as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            body: dict[str, Any] = await resp.json()
            return body

    async def resume(self, upload_id: str, data: bytes, *, timeout: float = 30.0) -> int:
        """As a tus client resumes after an error: HEAD for the offset, PATCH the rest, again after
        a 503 (a pooled connection to a restarted Redis fails once). The offset it resumed from."""
        deadline = time.monotonic() + timeout
        while True:
            status, offset = await self.head(upload_id)
            if status == 200:
                patched, _ = await self.patch(upload_id, offset, data[offset:])
                if patched == 204:
                    return offset
                status = patched
            assert status == 503 and time.monotonic() < deadline, (status, upload_id)
            await asyncio.sleep(0.5)

    async def upload(self, data: bytes, name: str = "clip.mp4") -> str:
        upload_id = await self.create(len(data), name)
        assert await self.patch(upload_id, 0, data) == (204, "")
        return upload_id

    async def wait_for(
        self, upload_id: str, done: Callable[[dict[str, Any]], bool], *, timeout: float, seen: list[str] | None = None
    ) -> dict[str, Any]:
        """Poll the status until ``done``; every state passed through goes to ``seen``."""
        deadline = time.monotonic() + timeout
        while True:
            body = await self.status(upload_id)
            if seen is not None and (not seen or seen[-1] != body["state"]):
                seen.append(body["state"])
            if done(body):
                return body
            assert time.monotonic() < deadline, (upload_id, body, seen)
            await asyncio.sleep(0.1)
