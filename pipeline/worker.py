"""The arq worker's options for the pipeline's one job, given the application's storage.

The application's entry point (``tusd_py/worker.py``: ``tusd-py worker``, or
``arq tusd_py.worker.WorkerSettings``) passes its ``OpenStorage``; tests call
``create_worker(settings, open_storage, burst=True, poll_delay=0)``.

A job killed with its worker stays in arq's queue; once its in-progress key expires another
worker runs it again (``job_try`` + 1), and the job code takes over from the record.
"""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from arq.worker import Function, Worker, func

from .context import OpenStorage, arq_startup, shutdown
from .contract import JOB_PROCESS_UPLOAD
from .crypto.settings import CryptoSettings
from .jobs import process_upload
from .settings import PipelineSettings

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


def redis_settings(redis_url: str) -> RedisSettings:
    return RedisSettings.from_dsn(redis_url) if redis_url else RedisSettings()


def worker_options(
    settings: PipelineSettings, open_storage: OpenStorage, *, redis_url: str, crypto: CryptoSettings
) -> dict[str, Any]:
    """Keyword arguments of ``arq.worker.Worker`` for these settings; the Redis URL and the crypto
    section (placed) are the application's."""
    return {
        "functions": functions(settings),
        "on_startup": arq_startup(open_storage),
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(redis_url),
        "job_timeout": settings.job_timeout + TIMEOUT_MARGIN,
        "max_tries": settings.max_tries,
        "max_jobs": settings.max_jobs,
        "ctx": {"settings": settings, "crypto": crypto},
    }


def create_worker(
    settings: PipelineSettings, open_storage: OpenStorage, *, redis_url: str, crypto: CryptoSettings, **overrides: Any
) -> Worker:
    """An arq Worker (``burst=True, poll_delay=0`` in tests)."""
    return Worker(**{**worker_options(settings, open_storage, redis_url=redis_url, crypto=crypto), **overrides})
