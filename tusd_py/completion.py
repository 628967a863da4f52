"""Completion sinks: where a finished upload is handed to processing.

``InProcessQueue`` is the embedded default: an asyncio queue drained by one task that calls
the processing handler. Idempotency comes from the upload state machine (an upload is
handed off once, and the state is persisted right after) plus a per-process seen-set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from .protocol.info import UploadInfo

log = structlog.get_logger("tusd_py.completion")

ProcessHandler = Callable[[str], Awaitable[None]]


async def log_only(upload_id: str) -> None:
    log.info("upload_ready", upload_id=upload_id)


class InProcessQueue:
    def __init__(self, handler: ProcessHandler = log_only) -> None:
        self.handler = handler
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.enqueued: set[str] = set()
        self.processed: list[str] = []

    async def upload_finished(self, info: UploadInfo) -> None:
        if info.id in self.enqueued:
            return
        self.enqueued.add(info.id)
        await self.queue.put(info.id)
        log.info("job_enqueued", upload_id=info.id, queue="in-process")

    async def run(self) -> None:
        while True:
            upload_id = await self.queue.get()
            try:
                await self.handler(upload_id)
                self.processed.append(upload_id)
            except Exception:
                log.exception("job_failed", upload_id=upload_id)
            finally:
                self.queue.task_done()


class ArqCompletionSink:
    """Production hand-off: one arq job ``process_upload(upload_id)`` per upload, keyed by id."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis  # an arq.connections.ArqRedis

    async def upload_finished(self, info: UploadInfo) -> None:
        from pipeline.contract import JOB_PROCESS_UPLOAD, job_id

        job = await self.redis.enqueue_job(JOB_PROCESS_UPLOAD, info.id, _job_id=job_id(info.id))
        log.info("job_enqueued" if job is not None else "job_already_queued", upload_id=info.id, queue="arq")
