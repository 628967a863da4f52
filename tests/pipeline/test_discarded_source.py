"""A job for an upload whose plaintext processing already dropped (its media record lost, so the
job was enqueued again) never reads what the store holds in its place, the file store's hole of
zeros: the source is missing, and the record says so instead of a transcode of zeros."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import jobs
from pipeline.assets import FileAssetStore
from pipeline.context import Deps, make_pool
from pipeline.contract import MediaState
from pipeline.errors import SourceMissing
from pipeline.pool import JobPool
from pipeline.records import FileMediaRecords
from tests.pipeline.test_jobs import add_upload, crypto_settings, pipeline_settings
from tusd_py.processing import StoreUploads
from tusd_py.stores.filesystem import FileStore


@pytest.fixture(scope="module")
def pool() -> Iterator[JobPool]:
    executor = make_pool(1)
    yield executor
    executor.shutdown(cancel_futures=True)


async def test_a_dropped_plaintext_is_no_source(tmp_path: Path, pool: JobPool) -> None:
    data = tmp_path / "data"
    store = FileStore(data)
    uploads = StoreUploads(store)
    deps = Deps(
        pipeline_settings(), uploads, FileAssetStore(data), FileMediaRecords(data), pool, crypto=crypto_settings(data)
    )
    source = tmp_path / "notes.txt"
    source.write_bytes(b"the bytes a job would have read" * 100)
    upload_id = await add_upload(store, source, "notes.txt")
    assert (await uploads.get(upload_id)).size == source.stat().st_size

    assert await uploads.drop_source(upload_id)  # as after a ready asset; then its record is lost
    with pytest.raises(SourceMissing, match="processing dropped it"):
        await uploads.get(upload_id)
    record = await jobs.run(deps, upload_id, job_try=1)
    assert record is not None and record.state is MediaState.FAILED
    assert "processing dropped it" in record.reason
    assert await deps.assets.list(f"media/{upload_id}/") == []
