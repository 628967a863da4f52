"""Nothing lost with Redis (issue 16): uploads handed off but not processed when Redis loses its
data (FLUSHALL, a restart without persistence) get their jobs written again, by the sweeper of
any server (within one sweep) and by a worker when it starts; each job then runs to the end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from arq.constants import default_queue_name, job_key_prefix

from pipeline.contract import job_id
from tests.adversarial.server import create, exchange, request, running
from tusd_py.app import SWEEPER, create_app
from tusd_py.settings import Settings

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


async def upload(client: Any, data: bytes) -> str:
    resp = await client.post("/files/", headers={**TUS, "Upload-Length": str(len(data))})
    assert resp.status == 201
    path = resp.headers["Location"].split("//", 1)[1].split("/", 1)[1]
    resp = await client.patch(f"/{path}", data=data, headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTETS})
    assert resp.status == 204
    return str(path.rsplit("/", 1)[1])


async def test_the_sweeper_writes_a_lost_job_again_within_one_sweep(
    aiohttp_client: Any, make_settings: Callable[..., Settings], redis_url: str
) -> None:
    app = create_app(make_settings(redis_url=redis_url), background=False)
    client = await aiohttp_client(app)
    upload_id = await upload(client, b"hello")
    direct = redis.Redis.from_url(redis_url)
    try:
        jid = job_id(upload_id).encode()
        assert direct.zrange(default_queue_name, 0, -1) == [jid]  # handed off: its job waits
        direct.flushall()  # Redis loses everything
        resp = await client.get(f"/media/{upload_id}")
        assert resp.status == 200 and (await resp.json())["state"] == "queued"  # a lie until the sweep
        report = await app[SWEEPER].run_once()
        assert report.repaired == 1
        assert direct.zrange(default_queue_name, 0, -1) == [jid] and direct.exists(job_key_prefix + jid.decode())
        assert (await app[SWEEPER].run_once()).repaired == 0  # a job exists now: nothing to repair
        assert direct.zrange(default_queue_name, 0, -1) == [jid]
    finally:
        direct.close()


def _state(port: int, upload_id: str) -> str:
    answer = exchange(port, f"GET /media/{upload_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    return str(json.loads(body)["state"])


@pytest.mark.timeout(180)
def test_a_worker_started_after_a_flush_finds_the_lost_jobs_and_runs_them(tmp_path: Path, redis_url: str) -> None:
    env = {"TUSD_REDIS_URL": redis_url, "TUSD_STORE": "file", "TUSD_SWEEP_INTERVAL": "3600"}
    with running(tmp_path, env) as server:
        ids = []
        for body in (b"hello", b"a note, not a video\n" * 10):
            path = create(server.port, len(body))
            raw = (
                f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                f"Content-Type: {OCTETS}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            assert request(server.port, raw) == [204]
            ids.append(path.rsplit("/", 1)[1])
        with redis.Redis.from_url(redis_url) as direct:
            assert direct.zcard(default_queue_name) == 2
            direct.flushall()  # no worker ran yet: two jobs lost
        worker_env = {**os.environ, **env, "TUSD_DATA_DIR": str(server.data_dir), "TUSD_LOG_FORMAT": "json"}
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "tusd_py", "worker"], env=worker_env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 120
            while {_state(server.port, upload_id) for upload_id in ids} != {"stored"}:
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        text = log.read_text()
        assert text.count('"job_requeued"') == 2 and '"audit_done"' in text  # found at its start


@pytest.mark.timeout(240)
async def test_head_and_get_of_a_processed_upload_agree_after_a_flush(tmp_path: Path) -> None:
    """S3 store: processing dropped the plaintext object, the encrypted original replaces it. After
    Redis loses everything, HEAD (its record rebuilt from the .info) and GET (the original, through
    the media record in the database) still agree: 200, every byte, the same bytes."""
    import aiohttp

    from tests.pipeline.test_jobs import make_clip
    from tests.recovery.stack import Tus, deploy

    deployment = deploy(tmp_path)
    try:
        deployment.start_server()
        deployment.start_worker()
        clip = make_clip(tmp_path / "a.mp4").read_bytes()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            tus = Tus(http, deployment.url)
            video = await tus.upload(clip)
            await tus.wait_for(video, lambda s: s["state"] == "ready", timeout=120)
            for _ in range(100):  # the job drops the plaintext object just after ready
                objects = boto_keys(deployment)
                if video not in objects:
                    break
                await asyncio.sleep(0.1)
            assert video not in objects and f"{video}.info" in objects
            assert await tus.head(video) == (200, len(clip))
            assert await tus.get(video) == (200, clip)
            with redis.Redis.from_url(deployment.redis.url) as direct:
                direct.flushall()
            assert await tus.head(video) == (200, len(clip))
            assert await tus.get(video) == (200, clip)
            assert (await tus.status(video))["state"] == "ready"
    finally:
        deployment.stop()


def boto_keys(deployment: Any) -> set[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=deployment.moto.endpoint, region_name="us-east-1")
    return {item["Key"] for item in s3.list_objects_v2(Bucket=deployment.bucket).get("Contents", [])}
