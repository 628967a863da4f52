"""Completion sinks: where a finished upload is handed to processing.

``InProcessQueue`` is the embedded default: an asyncio queue drained by one task that calls
the processing handler. Idempotency comes from the upload state machine (an upload is
handed off once, and the state is persisted right after) plus a per-process seen-set.
``ArqCompletionSink`` is the production one, exactly once across instances (see its docstring).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from .ingest import IngestActivity
from .protocol.errors import StorageUnavailable
from .protocol.info import UploadInfo
from .state import keyspace

log = structlog.get_logger("tusd_py.completion")

ProcessHandler = Callable[[str], Awaitable[None]]


async def log_only(upload_id: str) -> None:
    log.info("upload_ready", upload_id=upload_id)


class InProcessQueue:
    """The completion sink of the embedded default, and the pipeline's ``JobQueue``."""

    def __init__(self, handler: ProcessHandler = log_only) -> None:
        self.handler = handler
        self.queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()  # (upload id, loop time queued)
        self.enqueued: set[str] = set()
        self.processed: list[str] = []
        # Jobs wait for a pause in uploads, at most defer_max seconds after they were queued
        # (ingest.py); ``serve`` sets both.
        self.ingest: IngestActivity | None = None
        self.defer_max = 0.0
        self.finished_at: dict[str, float] = {}  # wall clock of each hand-off, until its job takes it

    def handed_off_at(self, upload_id: str) -> float | None:
        """When ``upload_id`` was handed off (finished) in this process; asked once, by its job."""
        return self.finished_at.pop(upload_id, None)

    def serve(self, handler: ProcessHandler, *, ingest: IngestActivity | None = None, defer_max: float = 0.0) -> None:
        """Hand every queued id to ``handler``, once no upload is being received (``ingest``) or
        at most ``defer_max`` seconds after it was queued."""
        self.handler, self.ingest, self.defer_max = handler, ingest, defer_max

    async def upload_finished(self, info: UploadInfo) -> None:
        self.finished_at.setdefault(info.id, time.time())
        await self.submit(info.id)

    async def submit(self, upload_id: str) -> None:
        if upload_id in self.enqueued:
            return
        self.enqueued.add(upload_id)
        await self.put(upload_id)
        log.debug("job_enqueued", upload_id=upload_id, queue="in-process")  # upload_handed_off says it at info

    async def put(self, upload_id: str) -> None:
        await self.queue.put((upload_id, asyncio.get_running_loop().time()))

    async def run(self) -> None:
        while True:
            upload_id, queued_at = await self.queue.get()
            if self.ingest is not None and self.defer_max > 0:
                await self.ingest.pause(deadline=queued_at + self.defer_max)
            try:
                await self.handler(upload_id)
                self.processed.append(upload_id)
            except Exception:
                log.exception("job_failed", upload_id=upload_id)
            finally:
                self.queue.task_done()


# One step: if the upload was never handed off, mark it and enqueue its arq job, exactly as
# arq's enqueue_job writes it (job key + queue entry). arq alone dedups only while the job key
# or its result exists; the marker keeps the promise after they expire.
_HANDOFF = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return 0 end
redis.call('PSETEX', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[4])
return 1
"""


class ArqCompletionSink:
    """Production hand-off: one arq job ``process_upload(upload_id)`` per upload, ever.

    The job is written together with the marker ``tus:handoff:<id>`` in one Lua script, so a
    completion retried after a crash, a sweeper run, or two instances racing on the same upload
    enqueue it once, however long after the first job finished.
    """

    def __init__(self, redis: Any) -> None:
        self.redis = redis  # an arq.connections.ArqRedis
        self._handoff = redis.register_script(_HANDOFF)

    async def upload_finished(self, info: UploadInfo) -> None:
        from arq.constants import job_key_prefix, result_key_prefix
        from arq.jobs import serialize_job

        from pipeline.contract import JOB_PROCESS_UPLOAD, job_id

        jid, now_ms = job_id(info.id), int(time.time() * 1000)
        job = serialize_job(JOB_PROCESS_UPLOAD, (info.id,), {}, None, now_ms, serializer=self.redis.job_serializer)
        keys = [
            keyspace.handoff_key(info.id),
            job_key_prefix + jid,
            result_key_prefix + jid,
            self.redis.default_queue_name,
        ]
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            enqueued = await self._handoff(keys=keys, args=[now_ms, self.redis.expires_extra_ms, job, jid])
        except (RedisConnectionError, RedisTimeoutError) as exc:  # 503; the next HEAD, PATCH or sweep retries
            raise StorageUnavailable(f"the processing queue (Redis) is unavailable: {exc}") from exc
        log.info("job_enqueued" if enqueued else "job_already_handed_off", upload_id=info.id, queue="arq")
