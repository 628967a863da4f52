"""Outages survived (issue 18), with real processes: moto's S3 unreachable for 20 s and Redis
restarted from its AOF, each in the middle of an upload and of a transcode, and a worker killed
with SIGKILL mid-transcode. Uploads answer 503 meanwhile and resume with the right bytes; the job
retries with backoff (S3), completes exactly once (Redis), or is retried within seconds of the
worker's death (short heartbeat; the job timeout stays an hour)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.pipeline.test_jobs import make_clip
from tests.recovery.stack import Deployment, Tus, deploy

pytestmark = pytest.mark.timeout(300)
OUTAGE = 20.0  # seconds S3 stays unreachable


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


def events(deployment: Deployment, name: str, upload_id: str, index: int = -1) -> list[dict[str, Any]]:
    return [e for e in deployment.worker_log(index) if e["event"] == name and e.get("upload_id") == upload_id]


async def test_s3_unreachable_for_20_s_mid_upload_and_mid_transcode(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    deployment = deploy(tmp_path)
    try:
        deployment.start_server()
        deployment.start_worker()
        tus = Tus(http, deployment.url)
        clip = make_clip(tmp_path / "a.mp4", seconds=3, noise=True).read_bytes()
        other = os.urandom(1_000_000)
        video = await tus.upload(clip)
        plain = await tus.create(len(other), "notes.bin")
        assert await tus.patch(plain, 0, other[:400_000]) == (204, "")
        await tus.wait_for(video, lambda s: s["state"] == "processing" and s["progress"] > 0, timeout=120)

        deployment.moto.stop()  # S3 unreachable: connections refused
        down = time.monotonic()
        status, text = await tus.patch(plain, 400_000, other[400_000:])
        assert status == 503 and "ERR_STORAGE_UNAVAILABLE" in text, text
        seen: list[str] = []
        # S3 stays away at least OUTAGE seconds, and until the job has met it (a loaded machine
        # may still be transcoding after 20 s)
        retrying = await tus.wait_for(video, lambda s: s["state"] == "retrying", timeout=120, seen=seen)
        assert retrying["reason"] and "next in" in retrying["reason"]  # why, and when the next try comes
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        deployment.moto.start()  # the same port, the same objects

        assert await tus.resume(plain, other) == 400_000  # nothing acknowledged was lost, nothing more kept
        ready = await tus.wait_for(video, lambda s: s["state"] in ("ready", "failed"), timeout=180, seen=seen)
        assert ready["state"] == "ready", ready
        assert seen[:2] == ["processing", "retrying"] and seen[-1] == "ready"
        defers = [e["defer"] for e in events(deployment, "job_retry", video)]
        assert defers and defers == sorted(defers) and defers[0] == 5.0  # TUSD_RETRY_BACKOFF, doubling
        await tus.wait_for(plain, lambda s: s["state"] == "stored", timeout=60)
        assert await tus.get(plain) == (200, other)
        assert await tus.get(video) == (200, clip)  # the decrypted kept original
    finally:
        deployment.stop()


async def test_redis_restarted_from_its_aof_mid_upload_and_mid_transcode(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    deployment = deploy(tmp_path)
    try:
        deployment.start_server()
        deployment.start_worker()
        tus = Tus(http, deployment.url)
        clip = make_clip(tmp_path / "a.mp4", seconds=4, noise=True).read_bytes()
        other = os.urandom(1_000_000)
        video = await tus.upload(clip)
        plain = await tus.create(len(other), "notes.bin")
        assert await tus.patch(plain, 0, other[:400_000]) == (204, "")
        await tus.wait_for(video, lambda s: s["state"] == "processing" and s["progress"] > 0, timeout=120)

        deployment.redis.stop()
        status, text = await tus.patch(plain, 400_000, other[400_000:])
        assert status == 503 and "ERR_STORAGE_UNAVAILABLE" in text, text
        await asyncio.sleep(2.0)
        deployment.redis.start()  # from its AOF

        assert await tus.resume(plain, other) == 400_000
        ready = await tus.wait_for(video, lambda s: s["state"] in ("ready", "failed"), timeout=180)
        assert ready["state"] == "ready", ready
        assert len(events(deployment, "published", video)) == 1  # exactly once: one transcode, one publish
        assert len(events(deployment, "job_started", video)) == 1
        assert not events(deployment, "job_crashed", video)
        await tus.wait_for(plain, lambda s: s["state"] == "stored", timeout=60)
        assert await tus.get(plain) == (200, other)
        assert await tus.get(video) == (200, clip)
    finally:
        deployment.stop()


async def test_a_worker_killed_mid_transcode_is_retried_within_seconds(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    beat = 1.0
    deployment = deploy(tmp_path, TUSD_JOB_HEARTBEAT=str(beat), TUSD_X264_PRESET="medium")
    try:
        deployment.start_server()
        doomed = deployment.start_worker()
        tus = Tus(http, deployment.url)
        clip = make_clip(tmp_path / "a.mp4", seconds=8, noise=True).read_bytes()
        video = await tus.upload(clip)
        await tus.wait_for(video, lambda s: s["state"] == "processing" and s["progress"] > 0, timeout=120)
        os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its pool: a machine dying
        doomed.wait()
        killed = time.monotonic()
        deployment.start_worker()  # its supervisor starts it again
        seen: list[str] = []
        retrying = await tus.wait_for(video, lambda s: s["state"] == "retrying", timeout=60, seen=seen)
        retried_after = time.monotonic() - killed
        assert "try 1 stopped" in retrying["reason"]
        ready = await tus.wait_for(video, lambda s: s["state"] in ("ready", "failed"), timeout=180, seen=seen)
        assert ready["state"] == "ready", ready
        assert ready["try"] is None and seen[seen.index("retrying") :] == ["retrying", "processing", "ready"]
        assert retrying["try"] == 2
        print(f"worker killed -> retrying after {retried_after:.1f} s (heartbeat {beat:g} s)")
        assert retried_after < 3 * beat + 30  # 3 beats + the new worker's start, on a busy machine
        lost = events(deployment, "job_worker_lost", video)
        assert [e["next_try"] for e in lost] == [2]
        assert await tus.get(video) == (200, clip)
    finally:
        deployment.stop()


async def test_a_long_transcode_beside_an_idle_worker_is_started_once(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Liveness is the heartbeat, not the job's length: a transcode that lasts many beats is left to
    its worker by the other worker's watchdog (every beat) and by the server's sweeper."""
    beat = 0.2  # a heartbeat lifetime (3 beats) far below the transcode, however fast the machine
    deployment = deploy(tmp_path, TUSD_JOB_HEARTBEAT=str(beat), TUSD_X264_PRESET="medium", TUSD_SWEEP_INTERVAL="1")
    try:
        deployment.start_server()
        deployment.start_worker()
        deployment.start_worker()
        tus = Tus(http, deployment.url)
        clip = make_clip(tmp_path / "a.mp4", seconds=8, noise=True).read_bytes()
        video = await tus.upload(clip)
        started = time.monotonic()
        ready = await tus.wait_for(video, lambda s: s["state"] in ("ready", "failed"), timeout=180)
        assert ready["state"] == "ready", ready
        assert time.monotonic() - started > 6 * beat  # it outlived its heartbeat's lifetime twice over
        logs = [deployment.worker_log(0), deployment.worker_log(1)]
        runs = [e for log in logs for e in log if e["event"] == "job_started" and e["upload_id"] == video]
        assert len(runs) == 1 and runs[0]["job_try"] == 1
        assert not [e for log in logs for e in log if e["event"] == "job_worker_lost"]
        assert deployment.server is not None and "processing_repaired" not in deployment.server.log.read_text()
    finally:
        deployment.stop()
