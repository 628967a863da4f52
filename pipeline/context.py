"""What a running job needs (``Deps``), and the arq ``on_startup``/``on_shutdown`` that build it.

The application supplies the storage (``OpenStorage``: the uploads to read, where outputs go);
the pipeline adds the records, the key ring and the process pool. The embedded default
(``inprocess.py``) builds the same ``Deps`` from the server's own storage and records, so both
paths run the same job code.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from .assets import AssetStore
from .crypto.keyring import local_ring, open_ring
from .crypto.keys import KeyEncryptionKey
from .crypto.settings import CryptoSettings
from .observe import NO_OBSERVER, JobObserver
from .pool import JobPool
from .ports import MediaEvents, NoMediaEvents, UploadSource
from .publish import Publisher
from .records import MediaRecords, RedisMediaRecords
from .scratch import remove_abandoned
from .settings import PipelineSettings

log = structlog.get_logger("pipeline.context")


def lower_priority(priority: str) -> None:
    """Pool initializer: transcoding is background work and must not slow the uploads of the
    same machine (the embedded server, or a worker beside one). ``idle`` only uses CPU nothing
    else wants (SCHED_IDLE); ``low`` is nice 10."""
    if priority == "idle" and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif priority in ("idle", "low"):
        os.nice(19 if priority == "idle" else 10)


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """A pool child outlived a parent killed with SIGKILL (``kill -9``, the OOM killer): it
    waited on a pipe nobody would write, holding its memory, for good. On Linux the kernel
    sends it SIGKILL when the parent goes; if the parent is already gone, it goes at once."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def init_worker(priority: str, parent: int) -> None:
    """Pool initializer."""
    die_with_parent(parent)
    lower_priority(priority)


def make_pool(workers: int, priority: str = "normal") -> JobPool:
    # spawn, not fork: the parent runs an event loop and threads (aiobotocore, to_thread) whose
    # locks a forked child could inherit held. Children are spawned by the thread that submits
    # (the event loop's), whose end is the process's end: the right trigger for die_with_parent.
    return JobPool(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(priority, os.getpid()),
    )


@dataclass
class Deps:
    settings: PipelineSettings
    uploads: UploadSource
    assets: AssetStore
    records: MediaRecords
    pool: JobPool
    keys: KeyEncryptionKey | None = None  # default: the local key ring of ``crypto``
    crypto: CryptoSettings | None = None  # the crypto section, placed (required)
    observer: JobObserver = NO_OBSERVER  # metrics (the application's), or nothing
    events: MediaEvents = field(default_factory=NoMediaEvents)  # final records (the application's webhooks)
    publisher: Publisher = field(init=False)
    own_ring: bool = field(init=False, default=False)  # a local ring this Deps reads itself

    def __post_init__(self) -> None:
        if self.crypto is None:
            raise TypeError("Deps needs the crypto section: CryptoSettings(...).placed(data_dir, ...)")
        self.own_ring = self.keys is None and self.crypto.kek_provider == "local"
        if self.own_ring:
            self.keys = local_ring(self.crypto)  # a missing key in production fails here, at start
        self.publisher = Publisher(self.assets, self.records, self.keys, frame_size=self.crypto.envelope_frame_size)

    def refresh_keys(self) -> None:
        """Reread a local key ring before a publish: after `keys rotate` new data keys go under
        the new KEK at once, and a retired KEK is never used again (two small file reads)."""
        if self.own_ring and self.crypto is not None:
            self.use_keys(local_ring(self.crypto))

    def use_keys(self, keys: KeyEncryptionKey) -> None:
        """Install a key ring opened later (KMS: its client lives in an async context)."""
        self.keys = self.publisher.keys = keys

    def reset_pool(self) -> None:
        """A pool whose child died (OOM, kill) is broken for good: replace it."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = make_pool(self.settings.process_workers, self.settings.process_priority)
        log.warning("process_pool_replaced")


class OpenStorage(Protocol):
    """The application's side of the worker's start: open the uploads to read and the asset
    store (their clients closed by ``stack``), given the worker's Redis (arq's ArqRedis)."""

    def __call__(self, redis: Any, stack: AsyncExitStack) -> Awaitable[tuple[UploadSource, AssetStore]]: ...


class OpenRecords(Protocol):
    """The application's media records for the worker (``ctx["open_records"]``; default: Redis),
    given the worker's Redis and the stack that closes what they open."""

    def __call__(self, redis: Any, stack: AsyncExitStack) -> Awaitable[MediaRecords]: ...


def arq_startup(open_storage: OpenStorage) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """arq on_startup: the application's storage, then the records, the key ring and the pool."""

    async def startup(ctx: dict[str, Any]) -> None:
        settings: PipelineSettings = ctx.get("settings") or PipelineSettings()
        stack = AsyncExitStack()
        ctx["stack"] = stack
        redis = ctx["redis"]  # arq's ArqRedis: also the Redis of media records
        uploads, assets = await open_storage(redis, stack)
        crypto: CryptoSettings = ctx["crypto"]  # the application's crypto section, placed
        # KMS: one client for the worker's life; local keys: Deps reads them (and rereads per job)
        keys = await stack.enter_async_context(open_ring(crypto)) if crypto.kek_provider == "kms" else None
        pool = make_pool(settings.process_workers, settings.process_priority)
        await asyncio.to_thread(remove_abandoned, settings.work_dir or None)  # jobs of a killed worker
        ctx["settings"] = settings
        open_records: OpenRecords | None = ctx.get("open_records")  # the application's (its SQL database)
        records = await open_records(redis, stack) if open_records is not None else RedisMediaRecords(redis)
        observer: JobObserver = ctx.get("observer") or NO_OBSERVER  # the application's metrics
        events: MediaEvents = ctx.get("events") or NoMediaEvents()  # the application's webhooks
        ctx["deps"] = Deps(
            settings, uploads, assets, records, pool, keys=keys, crypto=crypto, observer=observer, events=events
        )
        log.info("worker_started", pool=settings.process_workers, kek=crypto.kek_provider)

    return startup


async def shutdown(ctx: dict[str, Any]) -> None:
    deps: Deps | None = ctx.get("deps")
    if deps is not None:
        deps.pool.shutdown(wait=True, cancel_futures=True)
    stack: AsyncExitStack | None = ctx.get("stack")
    if stack is not None:
        await stack.aclose()
    log.info("worker_stopped")
