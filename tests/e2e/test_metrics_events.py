"""/metrics where the events happen away from the request path: S3 calls (moto), a finished
upload processed to ready by the embedded queue, and by the arq worker on its own port (issue 16)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from tests.fixtures.moto_server import free_port
from tests.pipeline.test_jobs import make_clip
from tests.web.test_metrics import scrape, value
from tusd_py.app import QUEUE, create_app
from tusd_py.settings import Settings
from tusd_py.state.memory import MemoryLocker
from tusd_py.worker import create_worker, serve_metrics

Client = TestClient[web.Request, web.Application]
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


async def upload(client: Client, data: bytes, **headers: str) -> str:
    created = await client.post("/files/", headers={**TUS, "Upload-Length": str(len(data)), **headers})
    assert created.status == 201
    path = URL(created.headers["Location"]).path
    sent = await client.patch(path, data=data, headers={**OCTET, "Upload-Offset": "0"})
    assert sent.status == 204, await sent.text()
    return path


async def test_s3_request_durations_by_operation(
    make_client: Callable[..., Any], moto_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUSD_MASTER_KEY", os.urandom(32).hex())  # shared storage: no key is made
    client = await make_client(store="s3", s3_bucket=s3_bucket, s3_endpoint_url=moto_endpoint, s3_path_style=True)
    await upload(client, os.urandom(1000))
    samples = await scrape(client)
    operations = {
        dict(labels)["operation"]
        for (name, labels), count in samples.items()
        if name == "tusd_s3_request_duration_seconds_count" and count > 0
    }
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} <= operations, operations
    total = sum(c for (n, _), c in samples.items() if n == "tusd_s3_request_duration_seconds_count")
    assert total >= 2
    assert value(samples, "tusd_bytes_received") == 1000


@pytest.fixture
def small_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSD_LADDER_HEIGHTS", "240")
    monkeypatch.setenv("TUSD_X264_PRESET", "ultrafast")
    monkeypatch.setenv("TUSD_THUMBNAIL_COUNT", "1")


@pytest.mark.usefixtures("small_ladder")
async def test_a_processed_upload_moves_the_job_metrics(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    client: Client = await aiohttp_client(create_app(make_settings()))  # the embedded queue runs
    path = await upload(client, make_clip(tmp_path / "clip.mp4").read_bytes())
    upload_id = path.rsplit("/", 1)[1]
    for _ in range(600):
        state = (await (await client.get(f"/media/{upload_id}")).json())["state"]
        if state in ("ready", "failed"):
            break
        await asyncio.sleep(0.1)
    assert state == "ready"
    for _ in range(50):  # the counters move when the job returns, just after the record
        samples = await scrape(client)
        if value(samples, "tusd_py_jobs_total", state="ready") == 1:
            break
        await asyncio.sleep(0.05)
    assert value(samples, "tusd_py_jobs_total", state="ready") == 1
    assert value(samples, "tusd_py_jobs_running") == 0
    assert value(samples, "tusd_py_jobs_queued") == 0
    assert value(samples, "tusd_py_transcode_seconds_per_source_second_count") == 1
    assert value(samples, "tusd_py_transcode_seconds_per_source_second_sum") > 0
    assert value(samples, "tusd_py_job_ready_latency_seconds_count") == 1
    assert value(samples, "tusd_py_job_ready_latency_seconds_sum") > 0
    assert value(samples, "tusd_uploads_finished") == 1
    assert not client.app[QUEUE].finished_at  # the job took its hand-off time


@pytest.mark.usefixtures("small_ladder")
async def test_the_worker_reports_its_jobs_on_its_own_port(
    aiohttp_client: Any, make_settings: Callable[..., Settings], redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(redis_url=redis_url, metrics_port=port)
    client: Client = await aiohttp_client(create_app(settings, locker=MemoryLocker()))  # hand-off through arq
    await upload(client, make_clip(tmp_path / "clip.mp4").read_bytes())
    metrics = serve_metrics(settings)
    assert metrics is not None
    worker = create_worker(settings, metrics=metrics, burst=True, poll_delay=0, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert value(samples, "tusd_py_jobs_total", state="ready") == 1
    assert value(samples, "tusd_py_transcode_seconds_per_source_second_count") == 1
    assert value(samples, "tusd_py_job_ready_latency_seconds_count") == 1
    assert value(samples, "tusd_py_job_ready_latency_seconds_sum") > 0
    assert value(samples, "tusd_py_jobs_running") == 0
    # the server's own registry saw none of the worker's jobs
    assert value(await scrape(client), "tusd_py_jobs_total", state="ready") == 0
