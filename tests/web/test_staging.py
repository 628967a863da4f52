"""Checksummed PATCHes share one RAM budget for staging (TUSD_STAGING_MEMORY)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

from tusd_py.keys import SERVICE

from .helpers import OCTET, TUS, content_of, create

KiB = 1024


async def test_concurrent_checksummed_patches_stay_within_the_staging_budget(make_client: Any) -> None:
    client = await make_client(staging_memory=256 * KiB)
    budget = client.app[SERVICE].staging
    bodies = [os.urandom(200 * KiB) for _ in range(6)]
    paths = [await create(client, len(data)) for data in bodies]

    async def slow(data: bytes) -> AsyncIterator[bytes]:
        yield data[: 100 * KiB]
        # The rest waits until the server stages them all at once: 6 x 200 KiB cannot fit in
        # 256 KiB, so at least 4 go to temp files (the budget has no event to wait on).
        while budget.spilled < 4:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        yield data[100 * KiB :]

    async def send(path: str, data: bytes) -> int:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        headers = {
            **TUS,
            "Content-Type": OCTET,
            "Upload-Offset": "0",
            "Content-Length": str(len(data)),
            "Upload-Checksum": f"sha256 {digest}",
        }
        async with client.patch(path, data=slow(data), headers=headers) as response:
            return response.status

    statuses = await asyncio.wait_for(asyncio.gather(*(send(p, d) for p, d in zip(paths, bodies, strict=True))), 30)
    assert statuses == [204] * len(bodies)
    assert 0 < budget.peak <= budget.total
    assert budget.available == budget.total  # every grant came back
    for path, data in zip(paths, bodies, strict=True):
        assert await content_of(client, path) == data
