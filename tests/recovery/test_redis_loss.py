"""Nothing lost with Redis (issue 16): uploads handed off but not processed when Redis loses its
data (FLUSHALL, a restart without persistence) get their jobs written again, by the sweeper of
any server (within one sweep) and by a worker when it starts; each job then runs to the end."""

from __future__ import annotations

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
    return path.rsplit("/", 1)[1]


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
