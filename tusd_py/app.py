"""The app factory: the only place that names concrete stores, lockers and sinks.

``create_app`` decides what the configuration asks for and wires it: the parts come from
``builders.py`` (one ``build_*`` per choice), their lifetimes from ``lifetimes.py`` (one cleanup
context per client or loop), the routes from each package's ``setup_*``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import lifetimes
from .accounts import AccountEraser
from .auth.keys import ERASER
from .auth.ports import Sessions, Users
from .auth.setup import setup_auth
from .builders import (
    assets_for,
    build_audit,
    build_locker,
    build_media_records,
    build_redis,
    build_sessions,
    build_sink,
    build_store,
    build_vault,
    readiness_checks,
)
from .completion import InProcessQueue
from .core.catalogue import Catalogue
from .core.ports import CompletionSink, Locker, Store
from .core.service import Limits, UploadService
from .core.sweeper import Sweeper
from .db.catalogue import SqlCatalogue
from .db.engine import Database
from .db.keys import DATABASE
from .db.users import SqlUsers
from .draft import side_protocol
from .ingest import IngestActivity
from .keys import ADMISSION, INGEST, OBSERVER, SERVICE, SETTINGS, STORE
from .metrics import METRICS, Metrics, metrics_handler
from .playback import setup_playback_routes
from .playback.downloads import UploadDownloads
from .playback.keys import MEDIA, SIGNER, VAULT
from .playback.ports import Signer
from .settings import Settings
from .web.admission import Admission
from .web.download import DOWNLOADS
from .web.health import setup_health_routes
from .web.middlewares import tus_middleware
from .web.routes import setup_routes
from .web.transfer import MEDIA_REMOVER
from .webapp import setup_webapp_routes
from .webhooks.wiring import Webhooks

SWEEPER = web.AppKey("tusd_py.sweeper", Sweeper)
QUEUE = web.AppKey("tusd_py.queue", InProcessQueue)
WEBHOOKS = web.AppKey("tusd_py.webhooks", Webhooks)


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
    eraser = AccountEraser(service, media, lambda: assets_for(settings, store))
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
    app.cleanup_ctx.append(lifetimes.migrated_database(database, settings, redis))  # before its users
    app.cleanup_ctx.append(lifetimes.store_clients(store, redis, locker))
    if webhooks is not None and background:  # its outbox is in the database migrated above
        app.cleanup_ctx.append(lifetimes.webhook_dispatcher(webhooks))
    if vault.keys is None:
        app.cleanup_ctx.append(lifetimes.kms_key_ring(crypto, vault))
    if background and redis is None and sink is None:
        app.cleanup_ctx.append(lifetimes.embedded_pipeline(settings, store, media, queue, vault, webhooks))
    if background:
        app.cleanup_ctx.append(lifetimes.background_tasks(settings, app[SWEEPER], queue))
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
            await lifetimes.stop_tasks(tasks)

        app.on_startup.append(start)
        app.on_shutdown.append(stop)
