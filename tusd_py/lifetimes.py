"""The server's lifetimes: one cleanup context per client or background loop, each starting what
it owns at startup and ending it at shutdown (aiohttp runs the cleanup of a context only if its
startup finished). ``create_app`` (``app.py``) appends them in order: the database before its
users, the store's clients before the loops that use them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from .builders import assets_for
from .completion import InProcessQueue
from .core.ports import Locker, Store
from .core.sweeper import Sweeper
from .db.engine import Database
from .heap import keep_freed, trim_when_idle
from .keys import INGEST
from .metrics import METRICS
from .settings import Settings
from .webhooks.wiring import Webhooks

if TYPE_CHECKING:
    from pipeline.crypto.settings import CryptoSettings
    from pipeline.records import MediaRecords
    from pipeline.vault import MediaVault

log = structlog.get_logger("tusd_py.lifetimes")
Lifetime = Callable[[web.Application], AsyncIterator[None]]


def migrated_database(database: Database, settings: Settings, redis: Any | None) -> Lifetime:
    """Apply pending migrations at start (``TUSD_DATABASE_MIGRATE``) and take over the media records
    of a server from before the database; close the pool at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from .db.admin import adopt_legacy_records, warn_if_not_shared

        warn_if_not_shared(database, settings.storage.store)
        if settings.database.database_migrate:
            from .db.migrate import upgrade

            await upgrade(database)
        await adopt_legacy_records(database, settings.storage.data_dir, redis)
        yield
        await database.close()

    return ctx


def store_clients(store: Store, redis: Any | None, locker: Locker) -> Lifetime:
    """Open the store's SDK clients at startup and close them (and the lock listener, Redis) at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await store.start()
        yield
        await store.close()
        await locker.close()  # RedisLocker: stop its pub/sub listener before Redis closes
        if redis is not None:
            await redis.aclose()

    return ctx


def kms_key_ring(crypto: CryptoSettings, vault: MediaVault) -> Lifetime:
    """A KMS key ring: its client lives from startup to shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from pipeline.crypto.keyring import open_ring

        async with open_ring(crypto) as ring:
            vault.keys = ring
            yield

    return ctx


def embedded_pipeline(
    settings: Settings,
    store: Store,
    records: MediaRecords,
    queue: InProcessQueue,
    vault: MediaVault,
    webhooks: Webhooks | None,
) -> Lifetime:
    """The embedded default runs processing in this process; av and the pool load only here."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from pipeline.inprocess import EmbeddedPipeline

        from .processing import StoreUploads

        uploads, assets = StoreUploads(store), assets_for(settings, store)
        pipeline = EmbeddedPipeline(
            settings.pipeline,
            uploads,
            assets,
            records,
            queue,
            crypto=settings.crypto,
            observer=app[METRICS],
            handed_off_at=queue.handed_off_at,
            events=webhooks.media if webhooks is not None else None,
        )
        if pipeline.deps.keys is None and vault.keys is not None:
            pipeline.deps.use_keys(vault.keys)  # KMS: the ring the server opened
        queue.serve(pipeline.handle, ingest=app[INGEST], defer_max=pipeline.deps.settings.process_defer_max)
        await pipeline.start()  # jobs handed off before a restart but never processed, their scratch
        yield
        await pipeline.close()

    return ctx


def webhook_dispatcher(webhooks: Webhooks) -> Lifetime:
    """The webhook dispatcher while the server runs (docs/operations.md, "Webhooks")."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(webhooks.dispatcher.run_forever(), name="webhooks")
        yield
        await stop_tasks([task])

    return ctx


STOP_GRACE = 10.0  # seconds a background task has to end once cancelled


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background loops and wait for them, but never forever: a loop that swallows its
    cancellation (a library catching CancelledError deep in a call) must not hang the shutdown."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
    for task in pending:
        log.warning("task_did_not_stop", task=task.get_name(), grace=STOP_GRACE)
    for task in tasks:
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("task_failed", task=task.get_name(), error=str(exc) or type(exc).__name__)


def background_tasks(settings: Settings, sweeper: Sweeper, queue: InProcessQueue) -> Lifetime:
    """The sweeper, the embedded queue's loop, and the heap trimmer while the server runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(sweeper.run_forever(settings.server.sweep_interval), name="sweeper"),
            asyncio.create_task(queue.run(), name="in-process-queue"),
        ]
        if keep_freed(settings.server.heap_keep):  # this process's allocator: kept during uploads, returned after
            tasks.append(asyncio.create_task(trim_when_idle(app[INGEST]), name="heap-trim"))
        yield
        await stop_tasks(tasks)

    return ctx
