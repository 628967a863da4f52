"""Staging checksummed bodies: one RAM budget across all requests, then temp files."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tusd_py.core.diskspace import SpaceGuard
from tusd_py.core.spool import StagingBudget, spool
from tusd_py.protocol.checksum import ExpectedChecksum
from tusd_py.protocol.errors import InsufficientStorage, UploadSizeExceeded

KiB, MiB = 1024, 1024 * 1024


def _sha256(data: bytes) -> ExpectedChecksum:
    return ExpectedChecksum("sha256", hashlib.sha256(data).digest())


async def _body(data: bytes, *, chunk: int = 64 * KiB, pause: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]
        if pause is not None:
            await pause.wait()


async def _replay(staged: Any) -> bytes:
    return b"".join([chunk async for chunk in staged])


async def test_a_small_body_takes_only_what_it_needs() -> None:
    budget = StagingBudget(64 * MiB)
    data = b"x" * 1000
    staged, matched = await spool(_body(data), _sha256(data), budget=budget, size_hint=len(data))
    assert matched and not staged.in_file and budget.in_use == 1000
    assert await _replay(staged) == data
    staged.close()
    staged.close()  # idempotent: the budget is returned once
    assert budget.available == budget.total


async def test_a_spent_budget_stages_in_a_file_from_the_first_byte(tmp_path: Any) -> None:
    budget = StagingBudget(0)
    data = b"y" * 200 * KiB
    staged, matched = await spool(_body(data), _sha256(data), budget=budget, tmp_dir=str(tmp_path))
    assert matched and staged.in_file and budget.spilled == 1 and budget.peak == 0
    assert await _replay(staged) == data
    staged.close()


async def test_concurrent_bodies_stay_within_the_budget(tmp_path: Any) -> None:
    budget = StagingBudget(1 * MiB)
    pause = asyncio.Event()
    bodies = [bytes([n]) * 600 * KiB for n in range(6)]
    spooling = [
        asyncio.create_task(spool(_body(data, pause=pause), _sha256(data), budget=budget, tmp_dir=str(tmp_path)))
        for data in bodies
    ]
    await asyncio.sleep(0.05)  # every body has started and holds its first chunk
    assert budget.in_use <= budget.total
    pause.set()
    results = await asyncio.gather(*spooling)
    assert budget.peak <= budget.total and budget.spilled >= 4  # 6 x 600 KiB cannot fit in 1 MiB
    for (staged, matched), data in zip(results, bodies, strict=True):
        assert matched and await _replay(staged) == data
        staged.close()
    assert budget.available == budget.total


async def test_the_budget_comes_back_on_errors_and_cancellation() -> None:
    budget = StagingBudget(1 * MiB)

    async def too_long() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        raise UploadSizeExceeded("too much")

    with pytest.raises(UploadSizeExceeded):
        await spool(too_long(), _sha256(b""), budget=budget)
    assert budget.available == budget.total

    started, forever = asyncio.Event(), asyncio.Event()

    async def hangs() -> AsyncIterator[bytes]:
        yield b"b" * 1000
        started.set()
        await forever.wait()
        yield b""

    task = asyncio.create_task(spool(hangs(), _sha256(b""), budget=budget))
    await started.wait()
    assert budget.in_use > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert budget.available == budget.total


async def test_a_staging_file_respects_the_disk_reserve(tmp_path: Any) -> None:
    budget = StagingBudget(64 * KiB)
    disk = SpaceGuard(str(tmp_path), 1000, free_space=lambda path: 1000 + 100 * KiB)
    data = b"z" * 300 * KiB
    with pytest.raises(InsufficientStorage):
        await spool(_body(data), _sha256(data), budget=budget, tmp_dir=str(tmp_path), disk=disk)
    assert budget.available == budget.total
    roomy = SpaceGuard(str(tmp_path), 1000, free_space=lambda path: 10 * MiB)
    staged, matched = await spool(_body(data), _sha256(data), budget=budget, tmp_dir=str(tmp_path), disk=roomy)
    assert matched and staged.in_file and await _replay(staged) == data
    staged.close()
