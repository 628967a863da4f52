"""RedisLocker: one lock per upload across every server process (tus-user-issues C11, C12).

The lock is ``SET tus:lock:<id> <token> NX PX ttl``. While the request runs, a renewal task
extends it every ttl/2 with compare-and-pexpire; release is compare-and-delete, so a holder
whose lock lapsed can never free its successor's. Both are Lua scripts: check and act in one step.

Lock release over pub/sub (after tusd's lock-release requests and CDCgov's ``redislocker.go``):
a request that finds the upload locked publishes on ``tus:lock:<id>:release``; the holder's
process calls the lock's release callbacks (the PATCH body stops, the store saves what it has,
the lock is freed) and the release publishes on ``tus:lock:<id>:released``, which wakes the
waiters at once. Waiters also poll, so a lost message costs a poll interval, not a 423.

Each locker keeps one pattern subscription (one connection) for all uploads, not one per lock.

A holder that cannot renew (another token, no key, or Redis silent until the TTL ran out) has
lost the lock: its release callbacks fire at once, so it stops writing before a newcomer, who
may now hold the lock, writes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import RedisError

from ..protocol.errors import StorageUnavailable, UploadLocked
from . import keyspace
from .release import ReleaseSignal

if TYPE_CHECKING:
    from ..core.ports import Lock, Locker

log = structlog.get_logger("tusd_py.redis_lock")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLock(ReleaseSignal):
    def __init__(self, upload_id: str, token: str, since: float) -> None:
        super().__init__()
        self.upload_id = upload_id
        self.token = token
        self.since = since  # loop time the SET was sent: the key surely lives until since + ttl
        self.lost = False

    def lose(self) -> None:
        self.lost = True
        self.request_release()


class RedisLocker:
    def __init__(
        self,
        redis: Any,
        *,
        ttl: float = 10.0,
        poll_interval: float = 0.2,
        ask_interval: float = 1.0,
    ) -> None:
        self.redis = redis  # redis.asyncio.Redis (arq's ArqRedis is one)
        self.ttl = ttl
        self.poll_interval = poll_interval  # waiters retry SET NX this often even without a message
        self.ask_interval = ask_interval  # ... and repeat their release request this often
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._held: dict[str, RedisLock] = {}  # locks this process holds
        self._waiting: dict[str, set[asyncio.Event]] = {}  # waiters of this process, per upload
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    @asynccontextmanager
    async def lock(self, upload_id: str, *, timeout: float) -> AsyncIterator[RedisLock]:
        lock = await self._acquire(upload_id, timeout)
        self._held[upload_id] = lock
        renewal = asyncio.create_task(self._keep(lock), name=f"lock-renewal:{upload_id}")
        try:
            yield lock
        finally:
            if self._held.get(upload_id) is lock:
                del self._held[upload_id]
            # Shielded: a cancelled request must still free its lock rather than wait for the TTL.
            await asyncio.shield(self._let_go(lock, renewal))

    async def _acquire(self, upload_id: str, timeout: float) -> RedisLock:
        await self._listen_started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key, token = keyspace.lock_key(upload_id), secrets.token_hex(16)
        woken = asyncio.Event()  # set by a "released" message for this upload
        self._waiting.setdefault(upload_id, set()).add(woken)
        asked_at: float | None = None
        try:
            while True:
                holder_changed = woken.is_set()
                woken.clear()
                since = loop.time()
                try:
                    if await self.redis.set(key, token, nx=True, px=self._ttl_ms):
                        return RedisLock(upload_id, token, since)
                    now = loop.time()
                    if asked_at is None or holder_changed or now - asked_at >= self.ask_interval:
                        await self._ask(upload_id)
                        asked_at = now
                except RedisError as exc:
                    raise StorageUnavailable(f"the lock store is unavailable: {exc}") from exc
                if now >= deadline:
                    raise UploadLocked("the upload is busy with another request; retry shortly")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(self.poll_interval, deadline - now)):
                        await woken.wait()
        finally:
            waiters = self._waiting.get(upload_id)
            if waiters is not None:
                waiters.discard(woken)
                if not waiters:
                    del self._waiting[upload_id]

    async def _ask(self, upload_id: str) -> None:
        """Ask the holder to let go: directly if it lives in this process, else over pub/sub."""
        if (holder := self._held.get(upload_id)) is not None:
            holder.request_release()
        await self.redis.publish(keyspace.release_channel(upload_id), upload_id)

    async def _keep(self, lock: RedisLock) -> None:
        """Renew at ttl/2; retry errors quickly; once the TTL may have run out, the lock is lost."""
        loop = asyncio.get_running_loop()
        key = keyspace.lock_key(lock.upload_id)
        expires, due = lock.since + self.ttl, lock.since + self.ttl / 2
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            sent = loop.time()
            try:
                async with asyncio.timeout_at(expires):
                    renewed = bool(await self._renew(keys=[key], args=[lock.token, self._ttl_ms]))
            except Exception as exc:  # Redis error or no answer before the key may expire
                if loop.time() < expires:
                    log.warning("lock_renew_failed", upload_id=lock.upload_id, error=repr(exc))
                    due = loop.time() + self.ttl / 10
                    continue
                renewed = False
            if not renewed:
                log.warning("lock_lost", upload_id=lock.upload_id)
                lock.lose()
                return
            expires, due = sent + self.ttl, sent + self.ttl / 2

    async def _let_go(self, lock: RedisLock, renewal: asyncio.Task[None]) -> None:
        renewal.cancel()
        await asyncio.wait([renewal])
        if lock.lost:
            return  # the key is someone else's (or nobody's) now
        key = keyspace.lock_key(lock.upload_id)
        try:
            await self._release(
                keys=[key], args=[lock.token, keyspace.released_channel(lock.upload_id), lock.upload_id]
            )
        except RedisError as exc:  # the TTL frees it; waiters find it by polling
            log.warning("lock_release_failed", upload_id=lock.upload_id, error=repr(exc))

    # -- the shared subscription -------------------------------------------------------------
    async def _listen_started(self) -> None:
        """Start the listener once; wait briefly for its subscription (waiters poll regardless)."""
        if self._listener is None or self._listener.done():
            # A fresh context: the listener outlives the request that started it (and its log binding).
            self._listener = asyncio.create_task(self._listen(), name="lock-listener", context=contextvars.Context())
        if not self._subscribed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._subscribed.wait()

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(keyspace.RELEASE_PATTERN, keyspace.RELEASED_PATTERN)
                self._subscribed.set()
                while True:  # not listen(): the client's command timeout would end a quiet subscription
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10.0)
                    if message is not None and message["type"] == "pmessage":
                        self._dispatch(_text(message["pattern"]), _text(message["data"]))
            except RedisError as exc:
                log.warning("lock_listener_reconnect", error=repr(exc))
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(0.5)

    def _dispatch(self, pattern: str, upload_id: str) -> None:
        if pattern == keyspace.RELEASE_PATTERN:
            if (holder := self._held.get(upload_id)) is not None:
                holder.request_release()
        elif pattern == keyspace.RELEASED_PATTERN:
            for woken in self._waiting.get(upload_id, ()):
                woken.set()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener])
            self._listener = None


if TYPE_CHECKING:
    _lock: type[Lock] = RedisLock
    _locker: type[Locker] = RedisLocker
