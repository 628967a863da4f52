"""The hand-off to processing happens exactly once per finished upload (tus-user-issues E18):
when completion is retried, when two instances race on it, when the sweeper re-runs it, and
long after arq itself has forgotten the job. Real parts: redis-server, moto's S3, arq's worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, job_key_prefix
from arq.worker import Worker, func

from pipeline.contract import JOB_PROCESS_UPLOAD, job_id
from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE
from tusd_py.completion import ArqCompletionSink
from tusd_py.core.ports import CompletionSink
from tusd_py.core.service import Limits, UploadService
from tusd_py.core.sweeper import Sweeper
from tusd_py.protocol.headers import Metadata
from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.state.records import RedisUploadRecords
from tusd_py.state.redis_lock import RedisLocker
from tusd_py.stores.s3 import S3Config, S3Store
from tusd_py.stores.s3.client import open_client
from tusd_py.stores.s3.parts import PartPolicy

SIZE = 300 * 1024


class BytesBody:
    """A whole request body in one chunk (core.ports.RequestBody)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.declared_length: int | None = len(data)
        self.limit: int | None = None
        self.stopped = False
        self.error: str | None = None

    def stop(self) -> None:
        self.stopped = True

    async def has_data(self) -> bool:
        return bool(self.data)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


class LostEnqueue:
    """A sink whose enqueue never arrives (Redis blip, crash): the upload stays COMPLETED."""

    async def upload_finished(self, info: UploadInfo) -> None:
        raise ConnectionError("the queue went away")


@dataclass
class Instance:
    """What one server process holds: its own Redis client, records, lock listener and sink."""

    redis: ArqRedis
    store: S3Store
    locker: RedisLocker
    service: UploadService


Launch = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def launch(redis_url: str, moto_endpoint: str, s3_bucket: str) -> AsyncIterator[Launch]:
    async with contextlib.AsyncExitStack() as stack:

        async def make(sink: CompletionSink | None = None) -> Instance:
            redis = ArqRedis.from_url(redis_url)
            stack.push_async_callback(redis.aclose)
            client = await stack.enter_async_context(open_client(endpoint_url=moto_endpoint, path_style=True))
            policy = PartPolicy(preferred=MOTO_MIN_PART_SIZE, min_size=MOTO_MIN_PART_SIZE)
            store = S3Store(S3Config(bucket=s3_bucket, policy=policy), RedisUploadRecords(redis), client)
            locker = RedisLocker(redis, ttl=5.0)
            stack.push_async_callback(locker.close)
            service = UploadService(store, locker, sink or ArqCompletionSink(redis), Limits(lock_timeout=5.0))
            return Instance(redis, store, locker, service)

        yield make


async def queued(redis: ArqRedis) -> list[str]:
    return [job.job_id for job in await redis.queued_jobs()]


def info_of(upload_id: str) -> UploadInfo:
    return UploadInfo(id=upload_id, size=1)


async def completed_but_never_enqueued(launch: Launch) -> str:
    """An upload whose bytes are all stored and assembled, but whose enqueue was lost."""
    first = await launch(LostEnqueue())
    _, info = await first.service.create(length=SIZE, metadata=Metadata())
    with pytest.raises(ConnectionError):
        await first.service.append(info.id, 0, BytesBody(os.urandom(SIZE)))
    assert (await first.service.info(info.id)).state is UploadState.COMPLETED
    assert await queued(first.redis) == []
    return info.id


async def test_a_retried_completion_enqueues_once(redis_url: str) -> None:
    redis = ArqRedis.from_url(redis_url)
    sink = ArqCompletionSink(redis)
    for _ in range(3):
        await sink.upload_finished(info_of("u1"))
    await sink.upload_finished(info_of("u2"))
    assert sorted(await queued(redis)) == [job_id("u1"), job_id("u2")]
    await redis.aclose()


async def test_racing_instances_enqueue_once(redis_url: str) -> None:
    clients = [ArqRedis.from_url(redis_url) for _ in range(2)]
    sinks = [ArqCompletionSink(client) for client in clients]
    await asyncio.gather(*(sinks[i % 2].upload_finished(info_of("u1")) for i in range(20)))
    assert await queued(clients[0]) == [job_id("u1")]
    for client in clients:
        await client.aclose()


async def test_the_marker_outlasts_arq_s_own_dedup(redis_url: str) -> None:
    redis = ArqRedis.from_url(redis_url)
    await ArqCompletionSink(redis).upload_finished(info_of("u1"))
    # The job ran and its result expired: arq has forgotten it and would take it again.
    await redis.delete(job_key_prefix + job_id("u1"))
    await redis.zrem(default_queue_name, job_id("u1"))
    await ArqCompletionSink(redis).upload_finished(info_of("u1"))
    assert await queued(redis) == []
    assert await redis.enqueue_job(JOB_PROCESS_UPLOAD, "u1", _job_id=job_id("u1")) is not None  # arq alone
    await redis.aclose()


@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")  # inside arq's Worker.close
async def test_arq_s_worker_runs_the_handed_off_job_once(redis_url: str) -> None:
    redis = ArqRedis.from_url(redis_url)
    ran: list[str] = []

    async def process_upload(ctx: dict[str, Any], upload_id: str) -> None:
        ran.append(upload_id)

    sink = ArqCompletionSink(redis)
    await sink.upload_finished(info_of("u1"))
    for _ in range(2):
        worker = Worker(
            functions=[func(process_upload, name=JOB_PROCESS_UPLOAD)],
            redis_settings=RedisSettings.from_dsn(redis_url),
            burst=True,
            poll_delay=0,
            handle_signals=False,
        )
        await worker.main()
        await worker.close()
        await sink.upload_finished(info_of("u1"))  # a late retry after the job ran
    assert ran == ["u1"]
    await redis.aclose()


async def test_two_instances_racing_on_a_completed_upload_hand_it_off_once(launch: Launch) -> None:
    upload_id = await completed_but_never_enqueued(launch)
    a, b = await launch(), await launch()
    infos = await asyncio.gather(*(x.service.head(upload_id) for x in (a, b, a, b)))
    assert [info.offset for info in infos] == [SIZE] * 4
    assert await queued(a.redis) == [job_id(upload_id)]
    assert (await b.service.info(upload_id)).state is UploadState.HANDED_OFF


async def test_a_completion_retried_after_the_enqueue_enqueues_once(launch: Launch) -> None:
    a = await launch()
    _, info = await a.service.create(length=SIZE, metadata=Metadata())
    upload = await a.store.get_upload(info.id)
    data = os.urandom(SIZE)
    assert await upload.write_chunk(0, BytesBody(data)) == SIZE
    # Crash after the enqueue, before HANDED_OFF was written: the next HEAD finishes again.
    await ArqCompletionSink(a.redis).upload_finished(await upload.get_info())
    assert (await upload.get_info()).state is UploadState.RECEIVING
    assert (await a.service.head(info.id)).state is UploadState.HANDED_OFF
    assert await queued(a.redis) == [job_id(info.id)]


async def test_the_sweeper_enqueues_a_completed_upload_whose_enqueue_was_lost(launch: Launch) -> None:
    upload_id = await completed_but_never_enqueued(launch)
    a, b = await launch(), await launch()
    sweepers = [Sweeper(x.service, tombstone_ttl=60) for x in (a, b)]
    reports = await asyncio.gather(*(s.run_once() for s in sweepers))  # every instance sweeps
    assert sum(r.finished for r in reports) == 1  # the other found it done under the lock
    assert await queued(a.redis) == [job_id(upload_id)]
    assert (await a.service.info(upload_id)).state is UploadState.HANDED_OFF
    assert (await sweepers[0].run_once()).finished == 0  # handed off: no longer visited
    assert await queued(a.redis) == [job_id(upload_id)]
