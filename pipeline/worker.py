"""The arq worker's options for the pipeline's one job, given the application's storage.

The application's entry point (``tusd_py/worker.py``: ``tusd-py worker``, or
``arq tusd_py.worker.WorkerSettings``) passes its ``OpenStorage``; tests call
``create_worker(settings, open_storage, burst=True, poll_delay=0)``.

A job killed with its worker stays in arq's queue; arq would run it again only once its
in-progress key expires (over an hour by default). Each worker therefore runs the watchdog of
``recovery.py``: at its start an audit of every handed-off upload (jobs lost with Redis are
written again) and a scan, then a scan every ``TUSD_JOB_HEARTBEAT`` seconds that releases jobs
whose heartbeat is gone; another worker then runs them (``job_try`` + 1) and the job code takes
over from the record.

The worker outlives a Redis outage: a poll that fails is logged and tried again, where arq's own
loop would end the process (and with it the transcodes that need no Redis until they publish).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq.worker import Function, Worker, func

from .context import Deps, OpenStorage, arq_startup, shutdown
from .contract import JOB_PROCESS_UPLOAD
from .crypto.settings import CryptoSettings
from .jobs import process_upload
from .recovery import Recovery, redis_client
from .settings import PipelineSettings

log = structlog.get_logger("pipeline.worker")

# arq's own timeout is a backstop: the job enforces TUSD_JOB_TIMEOUT itself and marks the
# record failed, which arq's TimeoutError could not do.
TIMEOUT_MARGIN = 60.0


def functions(settings: PipelineSettings) -> list[Function]:
    return [
        func(
            process_upload,
            name=JOB_PROCESS_UPLOAD,
            timeout=settings.job_timeout + TIMEOUT_MARGIN,
            max_tries=settings.max_tries,
        )
    ]


StartupShutdown = Callable[[dict[str, Any]], Awaitable[None]]


async def watch(recovery: Recovery, deps: Deps) -> None:
    """The worker's watchdog: audit every handed-off upload once, then scan every beat."""
    audited = requeued = 0
    try:
        async for upload_id in deps.uploads.handed_off():
            audited += 1
            try:
                requeued += await recovery.audit(upload_id) is not None
            except Exception as exc:  # one bad record must not stop the others' recovery
                log.warning("audit_failed", upload_id=upload_id, error=str(exc))
    except Exception as exc:
        log.warning("audit_failed", error=str(exc))
    log.info("audit_done", uploads=audited, repaired=requeued)
    while True:
        try:
            await recovery.scan()
        except Exception as exc:  # Redis away: the next round tries again
            log.warning("watchdog_failed", error=str(exc))
        await asyncio.sleep(deps.settings.job_heartbeat)


def with_recovery(startup: StartupShutdown) -> tuple[StartupShutdown, StartupShutdown]:
    """arq on_startup / on_shutdown: the pipeline's own, plus the watchdog task between them."""

    async def start(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        deps: Deps = ctx["deps"]
        recovery = Recovery(ctx["redis"], deps.records, deps.settings)
        ctx["watchdog"] = asyncio.create_task(watch(recovery, deps), name="watchdog")

    async def stop(ctx: dict[str, Any]) -> None:
        task: asyncio.Task[None] | None = ctx.pop("watchdog", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await shutdown(ctx)

    return start, stop


class PipelineWorker(Worker):
    """arq's Worker, which survives a Redis outage (module docstring)."""

    async def _poll_iteration(self) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            await super()._poll_iteration()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("redis_unavailable", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(1.0)


def worker_options(
    settings: PipelineSettings,
    open_storage: OpenStorage,
    *,
    redis_url: str,
    crypto: CryptoSettings,
    redis_timeout: float = 5.0,
) -> dict[str, Any]:
    """Keyword arguments of ``arq.worker.Worker`` for these settings; the Redis URL, its timeout
    and the crypto section (placed) are the application's."""
    start, stop = with_recovery(arq_startup(open_storage))
    return {
        "functions": functions(settings),
        "on_startup": start,
        "on_shutdown": stop,
        "redis_pool": redis_client(redis_url or "redis://localhost:6379", timeout=redis_timeout),
        "job_timeout": settings.job_timeout + TIMEOUT_MARGIN,
        "max_tries": settings.max_tries,
        "max_jobs": settings.max_jobs,
        "ctx": {"settings": settings, "crypto": crypto},
    }


def create_worker(
    settings: PipelineSettings, open_storage: OpenStorage, *, redis_url: str, crypto: CryptoSettings, **overrides: Any
) -> Worker:
    """An arq Worker (``burst=True, poll_delay=0`` in tests)."""
    options = worker_options(settings, open_storage, redis_url=redis_url, crypto=crypto)
    return PipelineWorker(**{**options, **overrides})
