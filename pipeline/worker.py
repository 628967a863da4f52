"""The arq worker: ``tusd-py worker`` (or ``arq pipeline.worker.WorkerSettings``).

``create_worker(settings)`` is what the CLI and the tests use; ``WorkerSettings`` is the same
configuration as the plain class arq's own CLI expects, read from ``TUSD_*`` once at import.

A job killed with its worker stays in arq's queue; once its in-progress key expires another
worker runs it again (``job_try`` + 1), and the job code takes over from the record.
"""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from arq.worker import Function, Worker, func

from .context import shutdown, startup
from .contract import JOB_PROCESS_UPLOAD
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


def redis_settings(settings: PipelineSettings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url) if settings.redis_url else RedisSettings()


def worker_options(settings: PipelineSettings) -> dict[str, Any]:
    """Keyword arguments of ``arq.worker.Worker`` for these settings."""
    return {
        "functions": functions(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings),
        "job_timeout": settings.job_timeout + TIMEOUT_MARGIN,
        "max_tries": settings.max_tries,
        "max_jobs": settings.max_jobs,
        "ctx": {"settings": settings},
    }


def create_worker(settings: PipelineSettings, **overrides: Any) -> Worker:
    """An arq Worker (``burst=True, poll_delay=0`` in tests)."""
    return Worker(**{**worker_options(settings), **overrides})


class WorkerSettings:
    """For ``arq pipeline.worker.WorkerSettings``: the same options, from the environment."""

    _settings = PipelineSettings()
    functions = functions(_settings)
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(_settings)
    job_timeout = _settings.job_timeout + TIMEOUT_MARGIN
    max_tries = _settings.max_tries
    max_jobs = _settings.max_jobs
    ctx = {"settings": _settings}


def run(settings: PipelineSettings) -> None:
    """Run until SIGINT/SIGTERM (arq handles the signals and finishes running jobs)."""
    create_worker(settings).run()
