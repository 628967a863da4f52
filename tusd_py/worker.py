"""``tusd-py worker``: the pipeline's arq worker, given this server's storage.

The pipeline knows nothing of the tus store: ``storage_opener`` opens it here (the S3 store
with its client, or the file store) and hands the pipeline its ports, the uploads to read
(``processing.StoreUploads``) and the asset store beside them.

``create_worker(settings)`` is what the CLI and the tests use; ``WorkerSettings`` is the same
configuration as the plain class arq's own CLI expects (``arq tusd_py.worker.WorkerSettings``),
read from ``TUSD_*`` once at import.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from arq.worker import Worker

from pipeline import worker as pipeline_worker
from pipeline.assets import AssetStore
from pipeline.context import OpenRecords, OpenStorage
from pipeline.ports import UploadSource
from pipeline.records import MediaRecords

from .core.ports import Store
from .metrics import Metrics
from .processing import StoreUploads, build_assets
from .settings import Settings
from .webhooks.wiring import Webhooks


def storage_opener(settings: Settings, metrics: Metrics | None = None, webhooks: Webhooks | None = None) -> OpenStorage:
    """The upload store the server writes, and the asset store beside it (closed by the stack);
    ``webhooks`` read the owner, size and name of an upload from the same store."""
    storage = settings.storage

    async def open_storage(redis: Any, stack: AsyncExitStack) -> tuple[UploadSource, AssetStore]:
        if storage.store == "s3":
            from .stores.s3 import S3Store

            s3 = S3Store.from_settings(settings, redis=redis)
            if metrics is not None:
                s3.time_calls(metrics.s3_call)
            await s3.start()
            stack.push_async_callback(s3.close)
            store: Store = s3
        elif storage.store == "file":
            from .stores.filesystem import FileStore

            store = FileStore(storage.data_dir)
        else:
            raise ValueError("the worker needs TUSD_STORE=file or s3 (a memory store lives in one process)")
        assets = build_assets(storage.store, store, bucket=storage.s3_bucket, data_dir=storage.data_dir)
        if webhooks is not None:  # the upload's owner, size and name; its engine closes with the rest
            webhooks.media.attach(store)
            stack.push_async_callback(webhooks.outbox.engine.dispose)
        return StoreUploads(store), assets

    return open_storage


def worker_options(settings: Settings, metrics: Metrics | None = None) -> dict[str, Any]:
    """Keyword arguments of ``arq.worker.Worker``; ``metrics`` observes its jobs and S3 calls."""
    webhooks = build_webhooks(settings)
    options = pipeline_worker.worker_options(
        settings.pipeline,
        storage_opener(settings, metrics, webhooks),
        redis_url=settings.redis.redis_url,
        crypto=settings.crypto,
        redis_timeout=settings.redis.redis_timeout,
    )
    options["ctx"] = {**options["ctx"], "open_records": records_opener(settings)}
    if metrics is not None:
        options["ctx"] = {**options["ctx"], "observer": metrics}
    if webhooks is not None:  # media.ready/failed go to the outbox; the servers' dispatchers send them
        options["ctx"] = {**options["ctx"], "events": webhooks.media}
    return options


def records_opener(settings: Settings) -> OpenRecords:
    """The media records the servers read: rows of the SQL database (migrated first, as a server
    does at start), their changes announced on the worker's Redis for the servers' SSE streams."""

    async def open_records(redis: Any, stack: AsyncExitStack) -> MediaRecords:
        from .db.admin import opened, warn_if_not_shared
        from .db.records import RedisNotifier, SqlMediaRecords

        database = await stack.enter_async_context(opened(settings))
        warn_if_not_shared(database, settings.storage.store)
        return SqlMediaRecords(database, RedisNotifier(redis))

    return open_records


def build_webhooks(settings: Settings) -> Webhooks | None:
    """With TUSD_WEBHOOK_URLS: the outbox in the SQL database (its engine connects at first use)."""
    if not settings.webhooks.urls:
        return None
    from .db.engine import Database

    return Webhooks(settings.webhooks, Database.from_settings(settings.database, settings.storage.data_dir).engine)


def create_worker(settings: Settings, *, metrics: Metrics | None = None, **overrides: Any) -> Worker:
    """An arq Worker (``burst=True, poll_delay=0`` in tests)."""
    return pipeline_worker.PipelineWorker(**{**worker_options(settings, metrics), **overrides})


def serve_metrics(settings: Settings) -> Metrics | None:
    """With TUSD_METRICS_PORT: the worker's own registry over HTTP (a daemon thread of
    prometheus-client), on TUSD_HOST."""
    if not settings.log.metrics_port:
        return None
    from prometheus_client import start_http_server

    metrics = Metrics()
    start_http_server(settings.log.metrics_port, addr=settings.server.host, registry=metrics.registry)
    return metrics


def run(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM (arq handles the signals and finishes running jobs)."""
    create_worker(settings, metrics=serve_metrics(settings)).run()


class WorkerSettings:
    """For ``arq tusd_py.worker.WorkerSettings``: the same options, from the environment."""

    _options = worker_options(Settings())
    functions = _options["functions"]
    on_startup = _options["on_startup"]
    on_shutdown = _options["on_shutdown"]
    redis_pool = _options["redis_pool"]
    job_timeout = _options["job_timeout"]
    max_tries = _options["max_tries"]
    max_jobs = _options["max_jobs"]
    ctx = _options["ctx"]
