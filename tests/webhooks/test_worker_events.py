"""media.ready and media.failed from the arq worker: the job records them in the outbox of the SQL
database (the servers' dispatchers send them), with the upload's owner, size and name from the
store; a job run again on a final record reports it again, and the outbox keeps one delivery."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from pipeline.contract import JOB_PROCESS_UPLOAD, job_id
from tests.pipeline.test_jobs import add_upload, make_clip, pipeline_settings
from tests.pipeline.test_worker_arq import run_burst
from tusd_py.db.engine import Database
from tusd_py.db.migrate import upgrade
from tusd_py.settings import Settings
from tusd_py.stores.filesystem import FileStore
from tusd_py.webhooks.outbox import SqlOutbox

URL = "http://127.0.0.1:9/hook"  # never called: the worker only records


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return Settings.from_flat(
        store="file",
        data_dir=str(tmp_path / "data"),
        redis_url=redis_url,
        webhook_urls=URL,
        webhook_secret="worker-test-secret-0123",
        **pipeline_settings().model_dump(),
    )


@pytest.fixture
async def arq_pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        yield pool
    finally:
        await pool.aclose()


async def outbox_bodies(settings: Settings, *, take: bool = False) -> list[dict[str, object]]:
    """The recorded deliveries' bodies (with their URL); ``take`` removes them, as sending would."""
    database = Database.from_settings(settings.database, settings.storage.data_dir)
    try:
        await upgrade(database)
        outbox = SqlOutbox(database.engine)
        pending = await outbox.pending()
        for delivery in pending if take else ():
            await outbox.delivered(delivery.id)
        return [json.loads(d.body) | {"_url": d.url} for d in pending]
    finally:
        await database.close()


async def test_the_worker_records_media_ready_and_failed_once_each(
    settings: Settings,
    arq_pool: ArqRedis,
    tmp_path: Path,
) -> None:
    store = FileStore(settings.storage.data_dir)
    good = await add_upload(store, make_clip(tmp_path / "clip.mp4"), filename="clip.mp4")
    whole = make_clip(tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 3])
    bad = await add_upload(store, tmp_path / "cut.mp4", filename="cut.mp4")
    for upload_id in (good, bad):
        await arq_pool.enqueue_job(JOB_PROCESS_UPLOAD, upload_id, _job_id=job_id(upload_id))
    assert await run_burst(settings) == (2, 0)
    bodies = {body["upload_id"]: body for body in await outbox_bodies(settings, take=True)}
    assert set(bodies) == {good, bad}
    ready, failed = bodies[good], bodies[bad]
    assert ready["event"] == "media.ready" and ready["state"] == "ready" and ready["_url"] == URL
    assert (ready["name"], ready["size"], ready["owner"]) == ("clip.mp4", (tmp_path / "clip.mp4").stat().st_size, "")
    assert ready["kind"] == "video" and ready["renditions"] == [{"name": "240p", "width": 320, "height": 240}]
    assert ready["thumbnails"] == 2 and ready["media_url"] == f"/media/{good}"
    assert failed["event"] == "media.failed" and failed["state"] == "failed" and failed["reason"]
    assert failed["name"] == "cut.mp4"

    # a job run again (after a crash between the record and the report) reports the final record again
    await arq_pool.enqueue_job(JOB_PROCESS_UPLOAD, good, _job_id=f"{job_id(good)}:again")
    assert await run_burst(settings) == (1, 0)
    [again] = await outbox_bodies(settings)
    assert again["event"] == "media.ready" and again["id"] == ready["id"]  # the same event
