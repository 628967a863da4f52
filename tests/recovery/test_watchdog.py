"""The watchdog and the audit (pipeline/recovery.py) against a private redis-server, with the arq
keys a worker writes: a dead job is released once, a live one never, a lost one is written again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import deserialize_job_raw

from pipeline.contract import JOB_PROCESS_UPLOAD, MediaRecord, MediaState, job_id
from pipeline.heartbeat import Heartbeat, heartbeat_key
from pipeline.records import FileMediaRecords
from pipeline.recovery import Recovery, redis_client
from pipeline.settings import PipelineSettings

UPLOAD = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
JID = job_id(UPLOAD)
BEAT = 0.2


@pytest.fixture
async def arq(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = redis_client(redis_url, timeout=5.0)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def records(tmp_path: Path) -> FileMediaRecords:
    return FileMediaRecords(tmp_path)


def settings(**overrides: object) -> PipelineSettings:
    return PipelineSettings(job_heartbeat=BEAT, max_tries=3, **overrides)  # type: ignore[arg-type]


async def started(arq: ArqRedis, tries: int = 1) -> None:
    """What arq leaves of a job a worker started ``tries`` times: job, queue entry, in-progress, counter."""
    await arq.enqueue_job(JOB_PROCESS_UPLOAD, UPLOAD, _job_id=JID)
    await arq.set(in_progress_key_prefix + JID, b"1", px=3_670_000)
    await arq.set(retry_key_prefix + JID, tries)


async def processing(records: FileMediaRecords, tries: int = 1) -> MediaRecord:
    return await records.put(MediaRecord(upload_id=UPLOAD, state=MediaState.PROCESSING, attempt="t1-x", tries=tries))


async def test_a_processing_job_without_heartbeat_is_released_at_once(arq: ArqRedis, records: FileMediaRecords) -> None:
    await started(arq)
    await processing(records)
    recovery = Recovery(arq, records, settings())
    assert await recovery.scan() == 1
    assert not await arq.exists(in_progress_key_prefix + JID)  # any worker's next poll takes it
    assert await arq.zscore(default_queue_name, JID) is not None and await arq.exists(job_key_prefix + JID)
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.RETRYING and record.tries == 2
    assert "try 1 stopped" in record.reason and record.progress == 0
    assert await recovery.scan() == 0  # released once


async def test_two_watchdogs_release_a_dead_job_once_and_leave_it_retrying(
    arq: ArqRedis, records: FileMediaRecords
) -> None:
    """Every worker and every server's sweeper watch: the one that comes second finds the job
    released already and leaves the record as the first one wrote it."""
    await started(arq)
    await processing(records)
    first, second = Recovery(arq, records, settings()), Recovery(arq, records, settings())
    assert sorted(await asyncio.gather(first.scan(), second.scan())) == [0, 1]
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.RETRYING and record.tries == 2


async def test_a_live_heartbeat_keeps_a_long_job_its_own(arq: ArqRedis, records: FileMediaRecords) -> None:
    await started(arq)
    recovery = Recovery(arq, records, settings())
    async with Heartbeat(arq, UPLOAD, settings(), job_try=1):
        await processing(records)
        for _ in range(8):  # 8 beats: the heartbeat outlives its 3-beat lifetime by renewal
            await asyncio.sleep(BEAT)
            assert await recovery.scan() == 0
        assert await arq.exists(in_progress_key_prefix + JID)
        record = await records.get(UPLOAD)
        assert record is not None and record.state is MediaState.PROCESSING
    assert not await arq.exists(heartbeat_key(UPLOAD))  # the ended job takes its beat along
    await asyncio.sleep(BEAT)
    assert await recovery.scan() == 1  # the in-progress key is left alone only while it beats


async def test_a_job_not_yet_beating_gets_one_beat_of_grace(arq: ArqRedis, records: FileMediaRecords) -> None:
    """arq writes its in-progress key a moment before the job's first beat; the record still says
    queued (the claim comes after the first beat), so one round only takes note."""
    await started(arq)
    recovery = Recovery(arq, records, settings())
    assert await recovery.scan() == 0
    await arq.set(heartbeat_key(UPLOAD), "host:1:try1", px=1000)  # the job's first beat arrives
    await asyncio.sleep(BEAT * 1.5)
    assert await recovery.scan() == 0 and recovery.suspects == {}
    await arq.delete(heartbeat_key(UPLOAD))  # ... and the job dies before it claims
    assert await recovery.scan() == 0
    await asyncio.sleep(BEAT * 1.5)
    assert await recovery.scan() == 1
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.RETRYING and record.tries == 2


async def test_the_last_try_dying_fails_the_job_and_removes_it(arq: ArqRedis, records: FileMediaRecords) -> None:
    await started(arq, tries=3)
    await processing(records, tries=3)
    assert await Recovery(arq, records, settings()).scan() == 1
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.FAILED and "after 3 tries" in record.reason
    for key in (in_progress_key_prefix, job_key_prefix, retry_key_prefix):
        assert not await arq.exists(key + JID)
    assert await arq.zscore(default_queue_name, JID) is None  # arq would only say "max retries exceeded"


async def test_a_finished_job_whose_bookkeeping_was_cut_is_cleared(arq: ArqRedis, records: FileMediaRecords) -> None:
    """Redis went away as the job ended: the record is ready, arq's keys stayed."""
    await started(arq)
    await records.put(MediaRecord(upload_id=UPLOAD, state=MediaState.READY, tries=1))
    assert await Recovery(arq, records, settings()).scan() == 1
    assert not await arq.exists(in_progress_key_prefix + JID, job_key_prefix + JID)
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.READY  # no second run


async def test_a_ready_job_that_could_not_drop_its_source_runs_once_more(
    arq: ArqRedis, records: FileMediaRecords
) -> None:
    """Published, then Redis went away before the plaintext source was dropped: the job is freed
    (not removed), so a worker runs it again, finds it ready and drops the source."""
    await started(arq)
    await records.put(MediaRecord(upload_id=UPLOAD, state=MediaState.READY, original="original", tries=1))
    assert await Recovery(arq, records, settings()).scan() == 1
    assert not await arq.exists(in_progress_key_prefix + JID)
    assert await arq.exists(job_key_prefix + JID) and await arq.zscore(default_queue_name, JID) is not None


@pytest.mark.parametrize("before", [None, MediaState.QUEUED, MediaState.PROCESSING, MediaState.RETRYING])
async def test_a_lost_job_is_written_again_once(
    arq: ArqRedis, records: FileMediaRecords, before: MediaState | None
) -> None:
    """After a FLUSHALL (or a restore, or a crash between two writes) nothing in Redis backs the record."""
    if before is not None:
        await records.put(MediaRecord(upload_id=UPLOAD, state=before, tries=2))
    recovery = Recovery(arq, records, settings())
    assert await recovery.audit(UPLOAD) == "requeued"
    assert await recovery.audit(UPLOAD) is None  # a job exists now
    raw = await arq.get(job_key_prefix + JID)
    function, args, _, job_try, _ = deserialize_job_raw(raw)
    assert (function, args) == (JOB_PROCESS_UPLOAD, (UPLOAD,))
    expected_try = {None: 1, MediaState.QUEUED: 2, MediaState.PROCESSING: 3, MediaState.RETRYING: 2}[before]
    assert job_try == expected_try  # a try that was running when the job was lost counts
    assert await arq.zscore(default_queue_name, JID) is not None
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.QUEUED and record.tries == expected_try


@pytest.mark.parametrize("final", [MediaState.READY, MediaState.STORED, MediaState.FAILED])
async def test_a_final_record_needs_no_job(arq: ArqRedis, records: FileMediaRecords, final: MediaState) -> None:
    await records.put(MediaRecord(upload_id=UPLOAD, state=final))
    assert await Recovery(arq, records, settings()).audit(UPLOAD) is None
    assert not await arq.exists(job_key_prefix + JID)


async def test_a_job_waiting_for_its_retry_is_left_alone(arq: ArqRedis, records: FileMediaRecords) -> None:
    await arq.enqueue_job(JOB_PROCESS_UPLOAD, UPLOAD, _job_id=JID, _defer_by=60)
    await records.put(MediaRecord(upload_id=UPLOAD, state=MediaState.RETRYING, tries=2))
    assert await Recovery(arq, records, settings()).audit(UPLOAD) is None
    record = await records.get(UPLOAD)
    assert record is not None and record.state is MediaState.RETRYING and record.version == 1
