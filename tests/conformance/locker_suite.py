"""The contract every Locker meets, as a base class of tests (tus-node's shared store suite).

Subclasses provide the ``make_locker`` fixture: a factory whose lockers share one lock space.
For Redis each call is a separate locker with its own client, i.e. another server process;
for the in-process locker every call returns the same locker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tusd_py.core.ports import Lock, Locker
from tusd_py.protocol.errors import UploadLocked

MakeLocker = Callable[[], Locker]
LIVENESS = 10.0  # generous bound for "happens at all"; never a speed claim


@dataclass
class Holder:
    """A request that holds a lock in a task: until asked to release (cooperative) or told to go."""

    locker: Locker
    upload_id: str
    cooperative: bool = True
    held: asyncio.Event = field(default_factory=asyncio.Event)
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    log: list[str] = field(default_factory=list)
    lock: Lock | None = None
    task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with self.locker.lock(self.upload_id, timeout=5) as lock:
            self.lock = lock
            lock.on_release_request(self.asked.set)
            self.held.set()
            await (self.asked if self.cooperative else self.go).wait()
            self.log.append("holder_left")

    async def start(self) -> Holder:
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.held.wait(), LIVENESS)
        return self

    async def stop(self) -> None:
        self.go.set()
        self.asked.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, LIVENESS)


class LockerSuite:
    @pytest.fixture
    def make_locker(self) -> MakeLocker:
        raise NotImplementedError("subclasses provide make_locker")

    async def test_one_holder_at_a_time(self, make_locker: MakeLocker) -> None:
        lockers = [make_locker(), make_locker()]
        inside, most, entered = 0, 0, 0

        async def request(i: int) -> None:
            nonlocal inside, most, entered
            async with lockers[i % 2].lock("u1", timeout=LIVENESS):  # ignores release requests
                inside += 1
                entered += 1
                most = max(most, inside)
                await asyncio.sleep(0.03)
                inside -= 1

        await asyncio.gather(*(request(i) for i in range(4)))
        assert (entered, most) == (4, 1)

    async def test_a_waiter_asks_the_holder_to_release_and_then_gets_the_lock(self, make_locker: MakeLocker) -> None:
        holder = await Holder(make_locker(), "u1").start()
        assert holder.lock is not None and not holder.lock.release_requested
        async with make_locker().lock("u1", timeout=5) as lock:
            holder.log.append("waiter_got_it")
            assert not lock.release_requested
        assert holder.lock.release_requested and holder.asked.is_set()
        assert holder.log == ["holder_left", "waiter_got_it"]
        await holder.stop()

    async def test_a_busy_holder_makes_the_waiter_time_out_with_423(self, make_locker: MakeLocker) -> None:
        holder = await Holder(make_locker(), "u1", cooperative=False).start()
        with pytest.raises(UploadLocked) as caught:
            async with make_locker().lock("u1", timeout=0.3):
                pytest.fail("the lock was taken twice")
        assert caught.value.status == 423
        assert holder.asked.is_set()  # it was asked, it just did not let go
        assert holder.task is not None and not holder.task.done()
        await holder.stop()
        async with make_locker().lock("u1", timeout=LIVENESS):
            pass  # free again once the holder left

    async def test_locks_of_different_uploads_are_independent(self, make_locker: MakeLocker) -> None:
        holder = await Holder(make_locker(), "u1", cooperative=False).start()
        async with make_locker().lock("u2", timeout=0.5) as other:
            assert not other.release_requested
        assert not holder.asked.is_set()
        await holder.stop()

    async def test_an_error_inside_releases_the_lock(self, make_locker: MakeLocker) -> None:
        locker = make_locker()
        with pytest.raises(RuntimeError):
            async with locker.lock("u1", timeout=1):
                raise RuntimeError("boom")
        async with make_locker().lock("u1", timeout=0.5) as lock:
            assert not lock.release_requested

    async def test_a_callback_added_after_the_request_fires_at_once(self, make_locker: MakeLocker) -> None:
        holder = await Holder(make_locker(), "u1", cooperative=False).start()
        with pytest.raises(UploadLocked):
            async with make_locker().lock("u1", timeout=0.2):
                pass
        late: list[str] = []
        assert holder.lock is not None and holder.lock.release_requested
        holder.lock.on_release_request(lambda: late.append("called"))
        assert late == ["called"]
        await holder.stop()

    async def test_the_newest_request_takes_over(self, make_locker: MakeLocker) -> None:
        first = await Holder(make_locker(), "u1").start()
        second = Holder(make_locker(), "u1")
        await second.start()  # got it after asking the first to go
        await asyncio.wait_for(first.task or asyncio.sleep(0), LIVENESS)
        async with make_locker().lock("u1", timeout=5):
            assert second.asked.is_set()  # the second was asked in turn
        await second.stop()
