"""The composition's parts: one ``build_*`` per concrete choice the configuration makes (the
store, the locker, the completion sink, Redis, the media records, the vault, the sessions), and
the readiness checks. ``create_app`` (``app.py``) calls them, and ``tusd-py users`` the Redis
client and the session store the server would use.
Heavy or optional libraries (aiobotocore, redis, the pipeline's crypto) load inside the builder
that needs them, so a configuration that does not use them never imports them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .auth.ports import Sessions
from .completion import InProcessQueue
from .core.ports import CompletionSink, Locker, Store
from .core.sweeper import ProcessingAudit
from .db.engine import Database
from .settings import Settings
from .state.memory import MemoryLocker
from .web.health import Readiness

if TYPE_CHECKING:
    from pipeline.assets import AssetStore
    from pipeline.crypto.settings import CryptoSettings
    from pipeline.records import MediaRecords
    from pipeline.vault import MediaVault


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
    """Refresh sessions, with local accounts only (``TUSD_AUTH=local``)."""
    return session_store(redis, database) if settings.auth.auth == "local" else None


def session_store(redis: Any | None, database: Database) -> Sessions:
    """Where refresh sessions live: in Redis when the server has one (shared by instances), else in
    the SQL database (the embedded default: they survive a restart). ``tusd-py users`` ends an
    account's sessions in the same place."""
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


def assets_for(settings: Settings, store: Store) -> AssetStore:
    """Where processed outputs go, beside the uploads; call it after the store's ``start()``."""
    from .processing import build_assets

    storage = settings.storage
    return build_assets(storage.store, store, bucket=storage.s3_bucket, data_dir=storage.data_dir)


def build_vault(settings: Settings, crypto: CryptoSettings, store: Store, records: MediaRecords) -> MediaVault:
    """The pipeline's side of delivery and download. A local key ring is read (or, in the embedded
    default, created) here, so a missing production key stops the start with its message; a KMS
    ring is opened at startup (``lifetimes.kms_key_ring``)."""
    from pipeline.crypto.keyring import local_ring
    from pipeline.vault import MediaVault

    ring = local_ring(crypto) if crypto.kek_provider == "local" else None
    return MediaVault(
        records,
        ring,
        lambda: assets_for(settings, store),  # after the store's start()
        presign_ttl=crypto.presign_ttl,
        reload_keys=(lambda: local_ring(crypto)) if ring is not None else None,
    )
