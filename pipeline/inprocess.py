"""The embedded default: the same job, run by the server itself (no Redis, no arq).

``EmbeddedPipeline.handle(upload_id)`` is the handler of the application's queue
(``ports.JobQueue``). It runs
``jobs.run`` with a process pool of its own, retries transient errors with backoff by putting
the id back on the queue later (the queue keeps serving other uploads meanwhile), and
``rescan()`` re-enqueues uploads that were handed off but never processed: the queue lives in
memory, so a restart would otherwise forget them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from .assets import AssetStore
from .context import Deps, make_pool
from .contract import MediaState
from .crypto.settings import CryptoSettings
from .jobs import TransientError, mark_failed, mark_retrying, run_timed
from .observe import NO_OBSERVER, JobObserver
from .ports import JobQueue, MediaEvents, NoMediaEvents, UploadSource
from .records import MediaRecords
from .scratch import remove_abandoned
from .settings import PipelineSettings

log = structlog.get_logger("pipeline.inprocess")


class EmbeddedPipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        uploads: UploadSource,
        assets: AssetStore,
        records: MediaRecords,
        queue: JobQueue,
        *,
        crypto: CryptoSettings,
        observer: JobObserver = NO_OBSERVER,
        handed_off_at: Callable[[str], float | None] | None = None,
        events: MediaEvents | None = None,
    ) -> None:
        self.queue = queue
        pool = make_pool(settings.process_workers, settings.process_priority)
        events = events or NoMediaEvents()
        self.deps = Deps(settings, uploads, assets, records, pool, crypto=crypto, observer=observer, events=events)
        self.tries: dict[str, int] = {}
        self.since: dict[str, float] = {}  # wall clock of an upload's hand-off, else first try (ready latency)
        self.handed_off_at = handed_off_at  # the queue's record of the hand-off (lost by a restart)
        self.retries: set[asyncio.Task[None]] = set()

    async def handle(self, upload_id: str) -> None:
        settings = self.deps.settings
        job_try = self.tries.get(upload_id, 0) + 1
        self.tries[upload_id] = job_try
        final = job_try >= settings.max_tries
        if upload_id not in self.since:
            self.since[upload_id] = (self.handed_off_at and self.handed_off_at(upload_id)) or time.time()
        since = self.since[upload_id]
        try:
            await run_timed(
                self.deps, upload_id, job_id=f"inprocess:{upload_id}", job_try=job_try, final=final, since=since
            )
        except TransientError as exc:
            delay = settings.backoff(job_try)
            log.warning("job_retry", upload_id=upload_id, job_try=job_try, defer=delay, error=str(exc))
            task = asyncio.create_task(self._requeue(upload_id, delay))
            self.retries.add(task)
            task.add_done_callback(self.retries.discard)
            return
        self.tries.pop(upload_id, None)
        self.since.pop(upload_id, None)

    async def _requeue(self, upload_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.queue.put(upload_id)

    async def start(self) -> None:
        """At server start: what an earlier process left, its jobs' scratch directories and the
        jobs themselves."""
        await asyncio.to_thread(remove_abandoned, self.deps.settings.work_dir or None)
        await self.rescan()

    async def rescan(self) -> int:
        """Enqueue every handed-off upload whose record is missing or not final. A record left
        ``processing`` by the process that died says ``retrying`` until its next try claims it:
        no job of this process holds it."""
        found = 0
        async for upload_id in self.deps.uploads.handed_off():  # the others: the sweeper's finisher
            try:
                record = await self.deps.records.get(upload_id)
                if record is None or not record.state.terminal:
                    if record is not None and record.state is MediaState.PROCESSING:
                        if record.tries >= self.deps.settings.max_tries:
                            reason = f"processing failed after {record.tries} tries: the server stopped during the last"
                            await mark_failed(self.deps, upload_id, reason)
                            continue
                        reason = f"the server stopped during try {record.tries}"
                        await mark_retrying(self.deps, upload_id, record.tries + 1, reason)
                        # tries count across restarts: a file that kills the server fails in the end
                        self.tries[upload_id] = record.tries
                    await self.queue.submit(upload_id)
                    found += 1
            except Exception:
                log.exception("rescan_failed", upload_id=upload_id)
        if found:
            log.info("rescan_requeued", uploads=found)
        return found

    async def close(self) -> None:
        for task in list(self.retries):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.deps.pool.shutdown, True, cancel_futures=True)
