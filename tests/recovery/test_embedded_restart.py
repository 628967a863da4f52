"""The embedded default after a crash: a record the dead process left ``processing`` says
``retrying`` from the start of the next process until its next try claims it, the tries count on
across restarts, and a file whose every try died with the server ends ``failed``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pipeline.assets import FileAssetStore
from pipeline.contract import MediaRecord, MediaState
from pipeline.inprocess import EmbeddedPipeline
from pipeline.records import FileMediaRecords
from tests.pipeline.test_jobs import add_upload, crypto_settings, make_clip, pipeline_settings
from tusd_py.completion import InProcessQueue
from tusd_py.processing import StoreUploads
from tusd_py.stores.filesystem import FileStore


async def restart(data: Path, tries: int) -> tuple[EmbeddedPipeline, InProcessQueue, str]:
    """A handed-off clip whose record a killed server left processing during try ``tries``."""
    store = FileStore(data)
    upload_id = await add_upload(store, make_clip(data.parent / "clip.mp4"))
    records = FileMediaRecords(data)
    await records.put(MediaRecord(upload_id=upload_id, state=MediaState.PROCESSING, tries=tries, progress=40.0))
    queue = InProcessQueue()
    pipeline = EmbeddedPipeline(
        pipeline_settings(), StoreUploads(store), FileAssetStore(data), records, queue, crypto=crypto_settings(data)
    )
    queue.serve(pipeline.handle)
    return pipeline, queue, upload_id


async def test_a_record_left_processing_is_retrying_until_its_next_try(tmp_path: Path) -> None:
    pipeline, queue, upload_id = await restart(tmp_path / "data", tries=1)
    try:
        await pipeline.start()  # what app.py runs at startup; the queue is not served yet
        record = await pipeline.deps.records.get(upload_id)
        assert record is not None and record.state is MediaState.RETRYING and record.tries == 2
        assert record.reason == "the server stopped during try 1" and record.progress == 0
        runner = asyncio.create_task(queue.run())
        try:
            deadline = time.monotonic() + 120
            while True:
                record = await pipeline.deps.records.get(upload_id)
                if record is not None and record.state.terminal:
                    break
                assert time.monotonic() < deadline, record
                await asyncio.sleep(0.05)
        finally:
            runner.cancel()
        assert record is not None and record.state is MediaState.READY and record.tries == 2
    finally:
        await pipeline.close()


async def test_a_file_whose_last_try_died_with_the_server_fails(tmp_path: Path) -> None:
    pipeline, queue, upload_id = await restart(tmp_path / "data", tries=3)  # pipeline_settings(): max_tries 3
    try:
        await pipeline.start()
        record = await pipeline.deps.records.get(upload_id)
        assert record is not None and record.state is MediaState.FAILED
        assert record.reason == "processing failed after 3 tries: the server stopped during the last"
        assert queue.queue.empty()  # not tried a fourth time
    finally:
        await pipeline.close()
