"""Refresh sessions: the same contract in Redis (a private redis-server) and in memory, and the
middleware's short cache in front of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from tusd_py.auth.ports import Session, Sessions
from tusd_py.auth.sessions import CachedSessions, MemorySessions, RedisSessions, session_key, user_key
from tusd_py.protocol.errors import StorageUnavailable


def new(sid: str, user: str = "u1", jti: str = "j1", created: float = 0.0) -> Session:
    now = created or time.time()
    return Session(sid, user, jti, now, now, "agent/1")


@pytest.fixture(params=["memory", "redis"])
async def sessions(request: pytest.FixtureRequest) -> AsyncIterator[Sessions]:
    if request.param == "memory":
        yield MemorySessions()
        return
    client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisSessions(client)
    finally:
        await client.aclose()


async def test_create_get_list(sessions: Sessions) -> None:
    await sessions.create(new("s1", created=100.0), 60)
    await sessions.create(new("s2", created=200.0), 60)
    await sessions.create(new("s3", user="u2"), 60)
    got = await sessions.get("s1")
    assert got == new("s1", created=100.0)
    assert [s.id for s in await sessions.list("u1")] == ["s1", "s2"]  # oldest first
    assert await sessions.get("nope") is None


async def test_rotate_is_compare_and_set(sessions: Sessions) -> None:
    await sessions.create(new("s1"), 60)
    assert await sessions.rotate("s1", "j1", "j2", 123.0, 60)
    got = await sessions.get("s1")
    assert got is not None and got.jti == "j2" and got.last_used == 123.0
    assert not await sessions.rotate("s1", "j1", "j3", 124.0, 60)  # j1 was rotated away: reuse
    assert (await sessions.get("s1")).jti == "j2"  # type: ignore[union-attr]
    assert not await sessions.rotate("gone", "j1", "j2", 1.0, 60)


async def test_concurrent_rotations_with_one_token_let_one_win(sessions: Sessions) -> None:
    await sessions.create(new("s1"), 60)
    results = await asyncio.gather(*(sessions.rotate("s1", "j1", f"n{i}", 1.0, 60) for i in range(10)))
    assert results.count(True) == 1


async def test_revoke_and_revoke_all(sessions: Sessions) -> None:
    for sid in ("s1", "s2", "s3"):
        await sessions.create(new(sid), 60)
    await sessions.create(new("t1", user="u2"), 60)
    await sessions.revoke("s1")
    assert await sessions.get("s1") is None
    assert [s.id for s in await sessions.list("u1")] == ["s2", "s3"]
    await sessions.revoke_all("u1")
    assert await sessions.list("u1") == [] and await sessions.get("s2") is None
    assert await sessions.get("t1") is not None  # another user's session stays


async def test_a_session_expires_after_its_ttl(sessions: Sessions) -> None:
    await sessions.create(new("s1"), 0.2)
    await sessions.create(new("s2"), 60)
    assert await sessions.get("s1") is not None
    await asyncio.sleep(0.3)
    assert await sessions.get("s1") is None
    assert [s.id for s in await sessions.list("u1")] == ["s2"]


async def test_redis_keys_and_ttls(redis_client: redis.asyncio.Redis) -> None:
    sessions = RedisSessions(redis_client)
    await sessions.create(new("s1"), 100)
    assert 99_000 < await redis_client.pttl(session_key("s1")) <= 100_000
    assert await redis_client.smembers(user_key("u1")) == {b"s1"}  # type: ignore[misc]
    assert await redis_client.pttl(user_key("u1")) > 99_000
    await sessions.rotate("s1", "j1", "j2", 5.0, 200)
    assert await redis_client.pttl(session_key("s1")) > 199_000  # a refresh extends the session
    assert await redis_client.pttl(user_key("u1")) > 199_000


async def test_unreachable_redis_is_503() -> None:
    client = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        with pytest.raises(StorageUnavailable):
            await RedisSessions(client).get("s1")
    finally:
        await client.aclose()


async def test_the_cache_sees_its_own_revocations_at_once() -> None:
    inner = MemorySessions()
    cached = CachedSessions(inner, ttl=60)
    await cached.create(new("s1"), 60)
    await cached.create(new("s2"), 60)
    assert await cached.get("s1") is not None and await cached.get("s2") is not None
    await cached.revoke("s1")
    assert await cached.get("s1") is None
    await cached.revoke_all("u1")
    assert await cached.get("s2") is None


async def test_the_cache_keeps_a_live_session_for_its_ttl_only() -> None:
    inner = MemorySessions()
    cached = CachedSessions(inner, ttl=0.2)
    await inner.create(new("s1"), 60)
    assert await cached.get("s1") is not None
    await inner.revoke("s1")  # another process revokes
    assert await cached.get("s1") is not None  # within the cache's ttl
    await asyncio.sleep(0.25)
    assert await cached.get("s1") is None
    assert await cached.get("unknown") is None  # misses are not cached: a new session is seen at once
    await inner.create(new("unknown"), 60)
    assert await cached.get("unknown") is not None


async def test_concurrent_misses_share_one_lookup() -> None:
    class Counting(MemorySessions):
        lookups = 0

        async def get(self, session_id: str) -> Session | None:
            Counting.lookups += 1
            await asyncio.sleep(0.05)  # a database round trip
            return await super().get(session_id)

    inner = Counting()
    await inner.create(new("s1"), 60)
    cached = CachedSessions(inner, ttl=60)
    found = await asyncio.gather(*(cached.get("s1") for _ in range(16)))
    assert all(s is not None and s.id == "s1" for s in found)
    assert Counting.lookups == 1


async def test_a_lookup_that_overlaps_a_revocation_is_not_cached() -> None:
    class Slow(MemorySessions):
        async def get(self, session_id: str) -> Session | None:
            found = await super().get(session_id)
            await asyncio.sleep(0.05)  # answered before the revocation, arriving after it
            return found

    inner = Slow()
    await inner.create(new("s1"), 60)
    cached = CachedSessions(inner, ttl=60)
    lookup = asyncio.create_task(cached.get("s1"))
    await asyncio.sleep(0.01)
    await cached.revoke("s1")
    assert await lookup is not None  # it asked before the revocation
    assert await cached.get("s1") is None  # but its answer was not kept
