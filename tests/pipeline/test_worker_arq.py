"""The arq worker against a private redis-server: burst runs, duplicates, bad media, and a worker
killed mid-job whose job arq runs again to completion."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis.asyncio
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix

from pipeline.assets import FileAssetStore
from pipeline.contract import JOB_PROCESS_UPLOAD, MediaState, job_id
from pipeline.crypto.keyring import local_ring
from tests.pipeline.test_jobs import (
    ROOT,
    add_upload,
    assert_one_consistent_asset,
    kill_once_it_progresses,
    make_clip,
    pipeline_settings,
)
from tusd_py.db.engine import Database
from tusd_py.db.migrate import upgrade
from tusd_py.db.records import RedisNotifier, SqlMediaRecords
from tusd_py.settings import Settings
from tusd_py.stores.filesystem import FileStore
from tusd_py.worker import create_worker


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    data_dir = str(tmp_path / "data")
    return Settings.from_flat(store="file", data_dir=data_dir, redis_url=redis_url, **pipeline_settings().model_dump())


@pytest.fixture
async def arq_pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        yield pool
    finally:
        await pool.aclose()


@pytest.fixture
async def view(settings: Settings, redis_client: redis.asyncio.Redis) -> AsyncIterator[SimpleNamespace]:
    """What the web process sees: the same records (the SQL database) and assets the worker
    writes, and the key ring."""
    keys = local_ring(settings.crypto)
    assets = FileAssetStore(settings.storage.data_dir)
    database = Database.from_settings(settings.database, settings.storage.data_dir)
    await upgrade(database)  # as the server does at start
    try:
        yield SimpleNamespace(records=SqlMediaRecords(database, RedisNotifier(redis_client)), assets=assets, keys=keys)
    finally:
        await database.close()


async def run_burst(settings: Settings) -> tuple[int, int]:
    worker = create_worker(settings, burst=True, poll_delay=0, handle_signals=False)
    try:
        await worker.main()
        return worker.jobs_complete, worker.jobs_failed
    finally:
        await worker.close()


async def enqueue(pool: ArqRedis, upload_id: str) -> bool:
    return await pool.enqueue_job(JOB_PROCESS_UPLOAD, upload_id, _job_id=job_id(upload_id)) is not None


async def test_burst_worker_turns_an_upload_into_one_ready_asset(
    settings: Settings, arq_pool: ArqRedis, view: SimpleNamespace, tmp_path: Path
) -> None:
    upload_id = await add_upload(FileStore(settings.storage.data_dir), make_clip(tmp_path / "clip.mp4"))
    assert await enqueue(arq_pool, upload_id)
    assert not await enqueue(arq_pool, upload_id)  # a duplicate hand-off is the same job
    assert await run_burst(settings) == (1, 0)
    record = await assert_one_consistent_asset(view, upload_id)
    assert record.job_id == job_id(upload_id) and record.tries == 1


async def test_bad_media_fails_with_a_reason_and_the_worker_goes_on(
    settings: Settings, arq_pool: ArqRedis, view: SimpleNamespace, tmp_path: Path
) -> None:
    store = FileStore(settings.storage.data_dir)
    text = tmp_path / "video.mp4"
    text.write_text("not a video at all\n" * 100)
    plain_id = await add_upload(store, text)
    whole = make_clip(tmp_path / "whole.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 3])
    bad_id = await add_upload(store, cut)
    good_id = await add_upload(store, make_clip(tmp_path / "clip.mp4"))
    for upload_id in (plain_id, bad_id, good_id):
        assert await enqueue(arq_pool, upload_id)
    assert await run_burst(settings) == (3, 0)  # the bad job ends normally, as "failed"
    bad = await view.records.get(bad_id)
    assert bad is not None and bad.state is MediaState.FAILED and bad.reason and bad.tries == 1
    plain = await view.records.get(plain_id)  # no media is no failure: kept as it is
    assert plain is not None and plain.state is MediaState.STORED and plain.reason.startswith("not a media file")
    await assert_one_consistent_asset(view, good_id)


async def test_a_killed_workers_job_is_released_by_the_watchdog_and_runs_again(
    settings: Settings,
    arq_pool: ArqRedis,
    view: SimpleNamespace,
    redis_client: redis.asyncio.Redis,
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=8, noise=True)
    upload_id = await add_upload(FileStore(settings.storage.data_dir), clip)
    assert await enqueue(arq_pool, upload_id)
    work = tmp_path / "work"
    work.mkdir()
    beat = 0.5  # short beats keep the test short; the job timeout stays an hour
    settings.pipeline = settings.pipeline.model_copy(update={"work_dir": str(work), "job_heartbeat": beat})
    env = {
        "TUSD_WORK_DIR": str(work),
        **os.environ,
        "TUSD_REDIS_URL": settings.redis.redis_url,
        "TUSD_DATA_DIR": settings.storage.data_dir,
        "TUSD_STORE": "file",
        "TUSD_LADDER_HEIGHTS": "240",
        "TUSD_JOB_HEARTBEAT": str(beat),
        "TUSD_X264_PRESET": "medium",  # slow enough to be caught mid-transcode
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tusd_py", "worker", cwd=ROOT, env=env, start_new_session=True
    )
    await kill_once_it_progresses(view.records, upload_id, proc)
    [left] = list(work.iterdir())  # the killed job's scratch directory
    jid = job_id(upload_id)
    assert await redis_client.exists(in_progress_key_prefix + jid)  # arq's key would hold it for an hour
    assert await redis_client.pttl(in_progress_key_prefix + jid) > 3_600_000
    # The next worker: its start removes the dead job's scratch at once, its watchdog releases the
    # job once the heartbeat is gone (3 beats), and it runs the job as try 2.
    assert await run_burst(settings) == (1, 0)
    assert not left.exists() and list(work.iterdir()) == []  # removed at its start; the retry's own too
    record = await assert_one_consistent_asset(view, upload_id)
    assert record.tries == 2  # arq counted the killed run as the first try
    assert not await redis_client.exists(f"media:heartbeat:{upload_id}")  # the finished job's beat is gone
