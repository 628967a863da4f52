"""The app factory: the only place that names concrete stores, lockers and sinks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from .accounts import AccountEraser
from .auth.keys import ERASER
from .auth.ports import Sessions, Users
from .auth.setup import setup_auth
from .completion import InProcessQueue
from .core.catalogue import Catalogue
from .core.ports import CompletionSink, Locker, Store
from .core.service import Limits, UploadService
from .core.sweeper import ProcessingAudit, Sweeper
from .db.catalogue import SqlCatalogue
from .db.engine import Database
from .db.keys import DATABASE
from .db.users import SqlUsers
from .draft import side_protocol
from .heap import keep_freed, trim_when_idle
from .ingest import IngestActivity
from .keys import ADMISSION, INGEST, OBSERVER, SERVICE, SETTINGS, STORE
from .metrics import METRICS, Metrics, metrics_handler
from .playback import setup_playback_routes
from .playback.downloads import UploadDownloads
from .playback.keys import MEDIA, SIGNER, VAULT
from .playback.ports import Signer
from .settings import Settings
from .state.memory import MemoryLocker
from .web.admission import Admission
from .web.download import DOWNLOADS
from .web.health import Readiness, setup_health_routes
from .web.middlewares import tus_middleware
from .web.routes import setup_routes
from .web.transfer import MEDIA_REMOVER
from .webapp import setup_webapp_routes
from .webhooks.wiring import Webhooks

if TYPE_CHECKING:
    from pipeline.assets import AssetStore
    from pipeline.crypto.settings import CryptoSettings
    from pipeline.records import MediaRecords
    from pipeline.vault import MediaVault

log = structlog.get_logger("tusd_py.app")
SWEEPER = web.AppKey("tusd_py.sweeper", Sweeper)
QUEUE = web.AppKey("tusd_py.queue", InProcessQueue)
WEBHOOKS = web.AppKey("tusd_py.webhooks", Webhooks)


def build_redis(settings: Settings) -> Any | None:
    """One client for state, locks and the arq queue (ArqRedis is a redis.asyncio.Redis)."""
    if not settings.redis.redis_url:
        return None
    from pipeline.recovery import redis_client

    return redis_client(settings.redis.redis_url, timeout=settings.redis.redis_timeout)


def build_store(settings: Settings, redis: Any | None = None) -> Store:
    if settings.storage.store == "file":
        from .stores.filesystem import FileStore

        return FileStore(settings.storage.data_dir, disk_reserve=settings.storage.disk_reserve)
    if settings.storage.store == "memory":
        from .stores.memory import MemoryStore

        return MemoryStore()
    if settings.storage.store == "s3":
        from .stores.s3 import S3Store

        return S3Store.from_settings(settings, redis=redis)
    raise ValueError(f"unknown store {settings.storage.store!r}")


def build_sessions(settings: Settings, redis: Any | None, database: Database) -> Sessions | None:
    """Refresh sessions of local accounts: in Redis when the server has one (shared by instances),
    else in the SQL database (the embedded default: they survive a restart)."""
    if settings.auth.auth != "local":
        return None
    if redis is None:
        from .db.sessions import SqlSessions

        return SqlSessions(database)
    from .auth.sessions import RedisSessions

    return RedisSessions(redis)


def build_locker(settings: Settings, redis: Any | None) -> Locker:
    if redis is None:
        return MemoryLocker()
    from .state.redis_lock import RedisLocker

    return RedisLocker(redis, ttl=settings.redis.lock_ttl)


def build_sink(settings: Settings, redis: Any | None, queue: InProcessQueue) -> CompletionSink:
    if redis is None:
        return queue
    from .completion import ArqCompletionSink

    return ArqCompletionSink(redis)


def build_media_records(database: Database, redis: Any | None) -> MediaRecords:
    """Processing records, with each asset's wrapped data key: rows of the SQL database, so a lost
    Redis loses no asset; changes reach SSE watchers over Redis pub/sub (the workers write them),
    or in-process in the embedded default."""
    from .db.records import LocalNotifier, RedisNotifier, SqlMediaRecords

    return SqlMediaRecords(database, RedisNotifier(redis) if redis is not None else LocalNotifier())


class _AllReady:
    """Several checks reported under one name: each must answer."""

    def __init__(self, *checks: Readiness) -> None:
        self.checks = checks

    async def ready(self) -> None:
        await asyncio.gather(*(check.ready() for check in self.checks))


def build_audit(settings: Settings, redis: Any | None, media: MediaRecords) -> ProcessingAudit | None:
    """With jobs in Redis, the sweeper checks every handed-off upload against the queue (jobs lost
    with Redis written again, dead workers' jobs released); the embedded queue rescans at start."""
    if redis is None:
        return None
    from pipeline.recovery import Recovery

    return Recovery(redis, media, settings.pipeline)


def readiness_checks(store: Store, database: Database, redis: Any | None) -> dict[str, Readiness]:
    """What ``/readyz`` asks: the store (HeadBucket, the uploads directory), Redis when configured
    (PING), and the databases (``SELECT 1``): the SQL one, and the file store's SQLite file."""
    from pipeline.records import RedisMediaRecords

    from .stores.filesystem import FileStore

    checks: dict[str, Readiness] = {}
    if isinstance(store, Readiness):
        checks["storage"] = store
    if redis is not None:
        checks["redis"] = RedisMediaRecords(redis)  # its ready() is a PING, unreachable = StorageUnavailable
    checks["database"] = _AllReady(database, store.db) if isinstance(store, FileStore) else database
    return checks


def _assets(settings: Settings, store: Store) -> AssetStore:
    from .processing import build_assets

    storage = settings.storage
    return build_assets(storage.store, store, bucket=storage.s3_bucket, data_dir=storage.data_dir)


def build_vault(settings: Settings, crypto: CryptoSettings, store: Store, records: MediaRecords) -> MediaVault:
    """The pipeline's side of delivery and download. A local key ring is read (or, in the embedded
    default, created) here, so a missing production key stops the start with its message; a KMS
    ring is opened at startup (``_key_ring``)."""
    from pipeline.crypto.keyring import local_ring
    from pipeline.vault import MediaVault

    ring = local_ring(crypto) if crypto.kek_provider == "local" else None
    return MediaVault(
        records,
        ring,
        lambda: _assets(settings, store),  # after the store's start()
        presign_ttl=crypto.presign_ttl,
        reload_keys=(lambda: local_ring(crypto)) if ring is not None else None,
    )


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    locker: Locker | None = None,
    sink: CompletionSink | None = None,
    background: bool = True,
    users: Users | None = None,
    sessions: Sessions | None = None,
) -> web.Application:
    app = web.Application(middlewares=[tus_middleware])
    app[SETTINGS] = settings
    app[METRICS] = app[OBSERVER] = metrics = Metrics()  # one registry per app
    redis = build_redis(settings)
    # Users, the catalogue and the media records; the engine connects at the first query (startup's migrations).
    app[DATABASE] = database = Database.from_settings(settings.database, settings.storage.data_dir)
    store = store or build_store(settings, redis)
    if (time_calls := getattr(store, "time_calls", None)) is not None:  # S3: durations by operation
        time_calls(metrics.s3_call)
    queue = InProcessQueue()
    locker = locker or build_locker(settings, redis)
    completion = sink or build_sink(settings, redis, queue)
    catalogue: Catalogue = SqlCatalogue(database)
    webhooks: Webhooks | None = None
    if settings.webhooks.urls:  # events recorded where they happen (tusd_py/webhooks/sources.py)
        webhooks = Webhooks(settings.webhooks, database.engine, store, metrics.webhook_attempt)
        completion, catalogue = webhooks.sink(completion), webhooks.catalogue(catalogue)
        app[WEBHOOKS] = webhooks
    service = UploadService(
        store,
        locker,
        completion,
        Limits(
            max_size=settings.server.max_size or None,
            expiry_seconds=settings.server.upload_expiry,
            lock_timeout=settings.server.lock_timeout,
            tmp_dir=settings.server.tmp_dir or None,
            checksum_max_size=settings.server.checksum_max_size,
            concat_max_partials=settings.server.concat_max_partials,
            staging_memory=settings.server.staging_memory,
            disk_reserve=settings.storage.disk_reserve,
            quota_bytes=settings.limits.quota_bytes,
            quota_uploads_in_flight=settings.limits.quota_uploads_in_flight,
        ),
        metrics,
        catalogue=catalogue,
    )
    app[STORE] = store
    app[SERVICE] = service
    app[QUEUE] = queue
    metrics.watch_queue(queue.queue.qsize)  # the embedded queue; with arq, the worker's queue is in Redis
    app[INGEST] = IngestActivity()
    app[ADMISSION] = Admission(
        max_uploads=settings.server.max_uploads_in_flight,
        sse_per_client=settings.server.sse_per_client,
        retry_after=settings.server.retry_after,
        trust_forwarded=settings.server.behind_proxy,
    )
    media = build_media_records(database, redis)
    app[SWEEPER] = Sweeper(
        service, tombstone_ttl=settings.server.tombstone_ttl, processing=build_audit(settings, redis, media)
    )
    from pipeline.crypto.keyring import signing_secret

    from .processing import PlaybackVault, StatusRecords

    app[MEDIA] = StatusRecords(media)  # Redis unreachable: 503, not 500
    # DELETE /auth/me erases the account's uploads and processed media first, and a tus DELETE of a
    # finished upload its processed media (tusd_py/accounts.py)
    eraser = AccountEraser(service, media, lambda: _assets(settings, store))
    app[ERASER], app[MEDIA_REMOVER] = eraser.erase, eraser.remove_media

    crypto = settings.crypto
    vault = build_vault(settings, crypto, store, media)
    app[VAULT] = playback = PlaybackVault(vault)  # the pipeline's errors become the server's
    app[DOWNLOADS] = UploadDownloads(playback)
    app[SIGNER] = Signer(signing_secret(crypto), crypto.url_ttl)
    setup_health_routes(app, readiness_checks(store, database, redis))  # first: base path "/" must not shadow them
    # Outside the tus base path, and before its routes: with TUSD_BASE_PATH=/ it would be an upload id.
    app.router.add_get("/metrics", metrics_handler, allow_head=False)
    if settings.direct.direct_uploads:  # /s3/: before the tus routes too
        _setup_direct(app, settings, store, service, background=background)
    setup_webapp_routes(app)  # GET / and /static/: before the tus routes, which base path "/" puts at "/"
    # The auth middleware (after tus_middleware, which maps its 401s) and /auth, before the tus routes.
    users = users or SqlUsers(database)
    setup_auth(app, settings, users=users, sessions=sessions or build_sessions(settings, redis, database))
    setup_routes(app, side_protocol(settings) if settings.server.draft_uploads else None)
    setup_playback_routes(app)
    app.cleanup_ctx.append(_database(database, settings, redis))  # before its users
    app.cleanup_ctx.append(_clients(store, redis, locker))
    if webhooks is not None and background:  # its outbox is in the database migrated above
        app.cleanup_ctx.append(_dispatching(webhooks))
    if vault.keys is None:
        app.cleanup_ctx.append(_key_ring(crypto, vault))
    if background and redis is None and sink is None:
        app.cleanup_ctx.append(_embedded_pipeline(settings, store, media, queue, vault))
    if background:
        app.cleanup_ctx.append(_background_tasks)
    return app


def _setup_direct(
    app: web.Application, settings: Settings, store: Store, service: UploadService, *, background: bool
) -> None:
    """The S3 signing API (issue 15) over the S3 store's client and records; with ``background``,
    the sweep that finishes single uploads (their client never calls back)."""
    from .direct.routes import setup_direct_routes
    from .direct.service import DirectPolicy, DirectService
    from .stores.s3 import S3Store
    from .stores.s3.direct import S3DirectStorage

    if not isinstance(store, S3Store):
        raise ValueError("TUSD_DIRECT_UPLOADS needs TUSD_STORE=s3: the client uploads straight to the bucket")
    conf = settings.direct
    storage = S3DirectStorage(store, sse=conf.direct_sse, kms_key_id=conf.direct_sse_kms_key_id)
    policy = DirectPolicy(
        url_ttl=conf.direct_url_ttl,
        expiry=conf.direct_expiry,
        min_part_size=settings.storage.s3_min_part_size,
    )
    direct = DirectService(service, storage, policy)
    setup_direct_routes(app, direct)
    if background:  # started once the store's client is open, stopped before it closes
        tasks: list[asyncio.Task[None]] = []

        async def start(app: web.Application) -> None:
            interval = settings.server.sweep_interval
            tasks.append(asyncio.create_task(direct.run_forever(interval), name="direct-settle"))

        async def stop(app: web.Application) -> None:
            await stop_tasks(tasks)

        app.on_startup.append(start)
        app.on_shutdown.append(stop)


def _database(
    database: Database, settings: Settings, redis: Any | None
) -> Callable[[web.Application], AsyncIterator[None]]:
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


def _clients(store: Store, redis: Any | None, locker: Locker) -> Callable[[web.Application], AsyncIterator[None]]:
    """Open the store's SDK clients at startup and close them (and the lock listener, Redis) at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await store.start()
        yield
        await store.close()
        await locker.close()  # RedisLocker: stop its pub/sub listener before Redis closes
        if redis is not None:
            await redis.aclose()

    return ctx


def _key_ring(crypto: CryptoSettings, vault: MediaVault) -> Callable[[web.Application], AsyncIterator[None]]:
    """A KMS key ring: its client lives from startup to shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from pipeline.crypto.keyring import open_ring

        async with open_ring(crypto) as ring:
            vault.keys = ring
            yield

    return ctx


def _embedded_pipeline(
    settings: Settings, store: Store, records: MediaRecords, queue: InProcessQueue, vault: MediaVault
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The embedded default runs processing in this process; av and the pool load only here."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from pipeline.inprocess import EmbeddedPipeline

        from .processing import StoreUploads

        uploads, assets = StoreUploads(store), _assets(settings, store)
        pipeline = EmbeddedPipeline(
            settings.pipeline,
            uploads,
            assets,
            records,
            queue,
            crypto=settings.crypto,
            observer=app[METRICS],
            handed_off_at=queue.handed_off_at,
            events=app[WEBHOOKS].media if WEBHOOKS in app else None,
        )
        if pipeline.deps.keys is None and vault.keys is not None:
            pipeline.deps.use_keys(vault.keys)  # KMS: the ring the server opened
        queue.serve(pipeline.handle, ingest=app[INGEST], defer_max=pipeline.deps.settings.process_defer_max)
        await pipeline.start()  # jobs handed off before a restart but never processed, their scratch
        yield
        await pipeline.close()

    return ctx


def _dispatching(webhooks: Webhooks) -> Callable[[web.Application], AsyncIterator[None]]:
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


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    tasks = [
        asyncio.create_task(app[SWEEPER].run_forever(settings.server.sweep_interval), name="sweeper"),
        asyncio.create_task(app[QUEUE].run(), name="in-process-queue"),
    ]
    if keep_freed(settings.server.heap_keep):  # this process's allocator: kept during uploads, returned after
        tasks.append(asyncio.create_task(trim_when_idle(app[INGEST]), name="heap-trim"))
    yield
    await stop_tasks(tasks)
