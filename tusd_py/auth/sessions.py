"""Refresh sessions in Redis, and the short in-process cache the auth middleware reads them through.

Keys (docs/auth.md)::

    auth:session:<sid>            hash: user_id, jti, created_at, last_used, user_agent
                                  (expires TUSD_REFRESH_TOKEN_TTL after the last refresh)
    auth:user:<uid>:sessions      set of the user's session ids (stale ids are dropped on list)

Rotation is one Lua compare-and-set on the hash's ``jti``: of two refreshes with the same token,
one wins and the other sees a rotated token, which is what theft looks like, and revokes.
A Redis that cannot be reached is 503 ``ERR_STORAGE_UNAVAILABLE`` (translated at the call).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..protocol.errors import StorageUnavailable
from .ports import Session, Sessions

_ROTATE = """
if redis.call('HGET', KEYS[1], 'jti') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'jti', ARGV[2], 'last_used', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4], 'GT')
return 1
"""


def session_key(session_id: str) -> str:
    return f"auth:session:{session_id}"


def user_key(user_id: str) -> str:
    return f"auth:user:{user_id}:sessions"


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StorageUnavailable(f"sessions: Redis is unreachable ({exc})") from None


def _ms(ttl: float) -> int:
    return max(1, math.ceil(ttl * 1000))


def _session(session_id: str, fields: dict[bytes, bytes]) -> Session | None:
    if not fields:
        return None
    text = {k.decode(): v.decode() for k, v in fields.items()}
    return Session(
        id=session_id,
        user_id=text["user_id"],
        jti=text["jti"],
        created_at=float(text["created_at"]),
        last_used=float(text["last_used"]),
        user_agent=text.get("user_agent", ""),
    )


class RedisSessions:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._rotate = redis.register_script(_ROTATE)

    async def create(self, session: Session, ttl: float) -> None:
        fields = {
            "user_id": session.user_id,
            "jti": session.jti,
            "created_at": repr(session.created_at),
            "last_used": repr(session.last_used),
            "user_agent": session.user_agent,
        }
        with _redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(session_key(session.id), mapping=fields)
                pipe.pexpire(session_key(session.id), _ms(ttl))
                pipe.sadd(user_key(session.user_id), session.id)
                pipe.pexpire(user_key(session.user_id), _ms(ttl), gt=True)
                pipe.pexpire(user_key(session.user_id), _ms(ttl), nx=True)
                await pipe.execute()

    async def get(self, session_id: str) -> Session | None:
        with _redis_errors():
            fields = await self.redis.hgetall(session_key(session_id))
        return _session(session_id, fields)

    async def rotate(self, session_id: str, old_jti: str, new_jti: str, now: float, ttl: float) -> bool:
        session = await self.get(session_id)
        if session is None:
            return False
        with _redis_errors():
            done = await self._rotate(
                keys=[session_key(session_id), user_key(session.user_id)],
                args=[old_jti, new_jti, repr(now), _ms(ttl)],
            )
        return bool(done)

    async def revoke(self, session_id: str) -> None:
        with _redis_errors():
            user_id = await self.redis.hget(session_key(session_id), "user_id")
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(session_key(session_id))
                if user_id is not None:
                    pipe.srem(user_key(user_id.decode()), session_id)
                await pipe.execute()

    async def revoke_all(self, user_id: str) -> None:
        with _redis_errors():
            ids = await self.redis.smembers(user_key(user_id))
            async with self.redis.pipeline(transaction=True) as pipe:
                for sid in ids:
                    pipe.delete(session_key(sid.decode()))
                pipe.delete(user_key(user_id))
                await pipe.execute()

    async def list(self, user_id: str) -> Sequence[Session]:
        with _redis_errors():
            ids = sorted(sid.decode() for sid in await self.redis.smembers(user_key(user_id)))
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.hgetall(session_key(sid))
                rows = await pipe.execute()
            found = [s for sid, row in zip(ids, rows, strict=True) if (s := _session(sid, row)) is not None]
            if stale := set(ids) - {s.id for s in found}:
                await self.redis.srem(user_key(user_id), *stale)  # expired hashes leave their id behind
        return sorted(found, key=lambda s: s.created_at)


class MemorySessions:
    """Sessions in this process (tests, and a server with neither Redis nor a database)."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[Session, float]] = {}  # id -> (session, expires at, monotonic)

    def _live(self, session_id: str) -> Session | None:
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._sessions[session_id]
            return None
        return entry[0]

    async def create(self, session: Session, ttl: float) -> None:
        self._sessions[session.id] = (session, time.monotonic() + ttl)

    async def get(self, session_id: str) -> Session | None:
        return self._live(session_id)

    async def rotate(self, session_id: str, old_jti: str, new_jti: str, now: float, ttl: float) -> bool:
        session = self._live(session_id)
        if session is None or session.jti != old_jti:
            return False
        rotated = Session(session.id, session.user_id, new_jti, session.created_at, now, session.user_agent)
        self._sessions[session_id] = (rotated, time.monotonic() + ttl)
        return True

    async def revoke(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def revoke_all(self, user_id: str) -> None:
        for session_id in [sid for sid, (s, _) in self._sessions.items() if s.user_id == user_id]:
            del self._sessions[session_id]

    async def list(self, user_id: str) -> Sequence[Session]:
        found = [s for sid in list(self._sessions) if (s := self._live(sid)) is not None and s.user_id == user_id]
        return sorted(found, key=lambda s: s.created_at)


class CachedSessions:
    """``Sessions`` read through a cache of ``ttl`` seconds (the auth middleware asks on every request).

    A revocation through this object takes effect at once in this process; one made by another
    process (another instance, ``tusd-py users disable``) within ``ttl``. Only live sessions are
    cached: a session found missing is asked again next time. Concurrent misses for one session
    share one lookup: when the entry of a busy session expires, its sixteen requests in flight
    cost one query, not sixteen (each would take a connection of the pool, on SQLite a thread).
    """

    def __init__(self, inner: Sessions, ttl: float = 1.0) -> None:
        self.inner, self.ttl = inner, ttl
        self._seen: dict[str, tuple[Session, float]] = {}  # id -> (session, until, monotonic)
        self._pending: dict[str, asyncio.Future[Session | None]] = {}
        self._generation = 0  # bumped by every change: a lookup that overlapped one is not cached

    async def create(self, session: Session, ttl: float) -> None:
        await self.inner.create(session, ttl)

    async def get(self, session_id: str) -> Session | None:
        now = time.monotonic()
        entry = self._seen.get(session_id)
        if entry is not None and entry[1] > now:
            return entry[0]
        pending = self._pending.get(session_id)
        if pending is None:
            pending = self._pending[session_id] = asyncio.ensure_future(self._lookup(session_id))
        return await asyncio.shield(pending)  # a waiter that is cancelled leaves the lookup to the others

    async def _lookup(self, session_id: str) -> Session | None:
        generation = self._generation
        try:
            session = await self.inner.get(session_id)
        finally:
            if self._pending.get(session_id) is asyncio.current_task():
                del self._pending[session_id]
        if session is None or generation != self._generation:
            self._seen.pop(session_id, None)
            return session
        now = time.monotonic()
        if len(self._seen) >= 10_000:  # bounded: forget what expired, else everything
            self._seen = {k: v for k, v in self._seen.items() if v[1] > now}
            if len(self._seen) >= 10_000:
                self._seen.clear()
        self._seen[session_id] = (session, now + self.ttl)
        return session

    def _changed(self) -> None:
        self._generation += 1
        self._pending.clear()  # later readers ask again

    async def rotate(self, session_id: str, old_jti: str, new_jti: str, now: float, ttl: float) -> bool:
        self._changed()
        self._seen.pop(session_id, None)
        return await self.inner.rotate(session_id, old_jti, new_jti, now, ttl)

    async def revoke(self, session_id: str) -> None:
        self._changed()
        self._seen.pop(session_id, None)
        await self.inner.revoke(session_id)

    async def revoke_all(self, user_id: str) -> None:
        self._changed()
        self._seen = {k: v for k, v in self._seen.items() if v[0].user_id != user_id}
        await self.inner.revoke_all(user_id)

    async def list(self, user_id: str) -> Sequence[Session]:
        return await self.inner.list(user_id)
