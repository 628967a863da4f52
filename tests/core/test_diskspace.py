"""SpaceGuard: the disk reserve, measured rarely, decremented by what it lets through."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from tusd_py.core.diskspace import SpaceGuard, statvfs_free
from tusd_py.protocol.errors import InsufficientStorage


class Disk:
    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0

    def __call__(self, path: str) -> int:
        self.calls += 1
        return self.free


async def test_claims_are_refused_below_the_reserve_and_measured_rarely() -> None:
    disk = Disk(1000)
    guard = SpaceGuard("/x", 600, free_space=disk)
    await guard.claim(0)
    await guard.claim(300)
    await guard.claim(100)
    assert disk.calls == 1  # a fresh measurement minus what was claimed since
    disk.free -= 400  # the claimed bytes were written
    with pytest.raises(InsufficientStorage) as refused:
        await guard.claim(1)  # 1000 - 400 - 1 < 600
    assert refused.value.status == 507
    assert disk.calls == 2  # a refusal measures again first: freed space is seen at once
    disk.free = 2000
    await guard.claim(1000)
    assert disk.calls == 3


async def test_a_stale_measurement_is_taken_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from tusd_py.core import diskspace

    disk = Disk(10_000)
    guard = SpaceGuard("/x", 1, free_space=disk)
    await guard.claim(10)
    monkeypatch.setattr(diskspace, "_FRESH", 0.0)
    await asyncio.sleep(0.001)
    await guard.claim(10)
    assert disk.calls == 2


async def test_no_reserve_never_measures() -> None:
    disk = Disk(0)
    guard = SpaceGuard("/x", 0, free_space=disk)
    await guard.claim(10**15)
    assert disk.calls == 0


async def test_concurrent_claims_share_one_measurement() -> None:
    disk = Disk(10**9)
    guard = SpaceGuard("/x", 1, free_space=disk)
    await asyncio.gather(*(guard.claim(1) for _ in range(50)))
    assert disk.calls == 1


async def test_an_unmeasurable_disk_lets_bytes_through() -> None:
    def broken(path: str) -> int:
        raise OSError(5, "EIO")

    guard = SpaceGuard("/x", 10**12, free_space=broken)
    await guard.claim(100)  # ENOSPC, if it comes, is still a 507 of its own


def test_statvfs_free_measures_a_real_directory(tmp_path: os.PathLike[str]) -> None:
    assert statvfs_free(str(tmp_path)) > 0


async def test_a_claim_arriving_as_a_measurement_ends_reads_its_figure() -> None:
    """A claim that finds the shared measurement just finished must see its result, never the
    figure from before it (an empty disk would read "0 free" and refuse with 507)."""
    release = threading.Event()

    def slow(path: str) -> int:
        release.wait(5)
        return 10**9

    guard = SpaceGuard("/x", 1, free_space=slow)
    first = asyncio.create_task(guard.claim(1))
    await asyncio.sleep(0.01)  # measuring in a thread
    measuring = guard._measuring
    assert measuring is not None
    release.set()
    while not measuring.done():  # noqa: ASYNC110 (polling: resume the moment it is done, before its callbacks)
        await asyncio.sleep(0)
    await guard.claim(1)
    await first
