"""RedisLocker against a private redis-server: the locker contract across "processes" (each
locker has its own client and subscription), plus what only a lock with a TTL can do: renew,
be lost, and never free a successor's lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio

from tests.conformance.locker_suite import LIVENESS, Holder, LockerSuite, MakeLocker
from tests.fixtures.moto_server import free_port
from tusd_py.protocol.errors import StorageUnavailable
from tusd_py.state import keyspace
from tusd_py.state.redis_lock import RedisLock, RedisLocker

Factory = Callable[..., RedisLocker]


@pytest.fixture
async def lockers(redis_url: str) -> AsyncIterator[Factory]:
    """Lockers on their own clients, as separate server processes would have; closed afterwards."""
    made: list[RedisLocker] = []

    def make(url: str = redis_url, **options: Any) -> RedisLocker:
        locker = RedisLocker(redis.asyncio.Redis.from_url(url), **options)
        made.append(locker)
        return locker

    yield make
    for locker in made:
        await locker.close()
        await locker.redis.aclose()


class TestRedisLocker(LockerSuite):
    @pytest.fixture
    def make_locker(self, lockers: Factory) -> MakeLocker:
        return lambda: lockers(ttl=2.0)


def key_of(upload_id: str) -> str:
    return keyspace.lock_key(upload_id)


async def test_renewal_keeps_a_long_holder_s_lock(lockers: Factory, redis_client: Any) -> None:
    locker = lockers(ttl=0.3)
    async with locker.lock("u1", timeout=1) as lock:
        await asyncio.sleep(1.0)  # more than three TTLs
        assert await redis_client.get(key_of("u1")) == lock.token.encode()
        assert await redis_client.pttl(key_of("u1")) > 0
        assert not lock.lost and not lock.release_requested
    assert await redis_client.exists(key_of("u1")) == 0


async def test_release_never_frees_a_successor_s_lock(lockers: Factory, redis_client: Any) -> None:
    first, second = lockers(ttl=5.0), lockers(ttl=5.0)
    holder = await Holder(first, "u1", cooperative=False).start()
    await redis_client.delete(key_of("u1"))  # as if the first holder's TTL had lapsed
    async with second.lock("u1", timeout=1) as successor:
        await holder.stop()  # the old holder leaves: compare-and-delete must not touch the key
        assert await redis_client.get(key_of("u1")) == successor.token.encode()
    assert await redis_client.exists(key_of("u1")) == 0


@pytest.mark.parametrize("steal", ["delete", "overwrite"])
async def test_a_holder_that_loses_its_lock_is_stopped_at_once(lockers: Factory, redis_client: Any, steal: str) -> None:
    holder = await Holder(lockers(ttl=0.4), "u1").start()  # cooperative: leaves when its callback fires
    if steal == "delete":
        await redis_client.delete(key_of("u1"))
    else:
        await redis_client.set(key_of("u1"), "someone-else", px=5000)
    await asyncio.wait_for(holder.asked.wait(), LIVENESS)  # noticed at the next renewal
    assert isinstance(holder.lock, RedisLock) and holder.lock.lost and holder.lock.release_requested
    await holder.stop()
    if steal == "overwrite":
        assert await redis_client.get(key_of("u1")) == b"someone-else"  # the leaver did not delete it


async def test_a_holder_whose_renewals_hang_gives_up_when_the_ttl_may_have_run_out(
    lockers: Factory, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    locker = lockers(ttl=0.4)

    async def hang(**_: Any) -> int:
        await asyncio.sleep(3600)
        return 1

    monkeypatch.setattr(locker, "_renew", hang)
    holder = await Holder(locker, "u1").start()
    await asyncio.wait_for(holder.asked.wait(), LIVENESS)
    assert isinstance(holder.lock, RedisLock) and holder.lock.lost
    await holder.stop()
    async with lockers().lock("u1", timeout=LIVENESS):
        pass  # the key expired by itself; the next request gets the lock


async def test_the_released_message_wakes_a_waiter_in_another_process(lockers: Factory) -> None:
    # Polls and repeated requests effectively off: only pub/sub can carry the request and the release.
    holder = await Holder(lockers(ttl=2.0), "u1").start()
    waiter = lockers(ttl=2.0, poll_interval=3600, ask_interval=3600)

    async def take() -> None:
        async with waiter.lock("u1", timeout=3600):
            pass

    await asyncio.wait_for(take(), LIVENESS)
    assert holder.asked.is_set()
    await holder.stop()


async def test_an_unreachable_redis_is_a_503_not_a_4xx(lockers: Factory) -> None:
    locker = lockers(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StorageUnavailable) as caught:
        async with locker.lock("u1", timeout=1):
            pytest.fail("locked without Redis")
    assert caught.value.status == 503
