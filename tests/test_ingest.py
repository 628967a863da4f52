"""Processing waits for a pause in uploads (ingest.py): never during a burst, never starved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tusd_py.completion import InProcessQueue
from tusd_py.ingest import IngestActivity
from tusd_py.keys import INGEST

from .web.helpers import OCTET, TUS, create


def _queue(ingest: IngestActivity, defer_max: float) -> tuple[InProcessQueue, list[str], asyncio.Event]:
    started: list[str] = []
    ran = asyncio.Event()

    async def handler(upload_id: str) -> None:
        started.append(upload_id)
        ran.set()

    queue = InProcessQueue(handler)
    queue.ingest, queue.defer_max = ingest, defer_max
    return queue, started, ran


async def test_a_job_waits_while_an_upload_body_is_in_flight() -> None:
    ingest = IngestActivity()
    queue, started, ran = _queue(ingest, defer_max=60.0)
    runner = asyncio.create_task(queue.run())
    try:
        with ingest.receiving():
            await queue.put("u1")
            await asyncio.sleep(0.5)  # five quiet periods: a job that ignored the body would have run
            assert started == []
        await asyncio.wait_for(ran.wait(), 10)  # the body ended: the pause comes, the job runs
        assert started == ["u1"]
    finally:
        runner.cancel()


async def test_a_job_runs_by_its_deadline_under_a_steady_stream_of_uploads() -> None:
    ingest = IngestActivity()
    queue, started, ran = _queue(ingest, defer_max=0.3)
    runner = asyncio.create_task(queue.run())
    try:
        with ingest.receiving():  # the stream never pauses
            await queue.put("u1")
            await asyncio.wait_for(ran.wait(), 10)
            assert started == ["u1"] and ingest.active == 1
    finally:
        runner.cancel()


async def test_no_deferral_when_it_is_switched_off() -> None:
    ingest = IngestActivity()
    queue, started, ran = _queue(ingest, defer_max=0.0)
    runner = asyncio.create_task(queue.run())
    try:
        with ingest.receiving():
            await queue.put("u1")
            await asyncio.wait_for(ran.wait(), 10)
            assert started == ["u1"]
    finally:
        runner.cancel()


async def test_pause_reports_a_pause_or_the_deadline() -> None:
    ingest = IngestActivity()
    loop = asyncio.get_running_loop()
    assert await ingest.pause(deadline=loop.time() + 60) is True  # nothing ever received
    with ingest.receiving():
        assert await ingest.pause(deadline=loop.time() + 0.05) is False
    assert ingest.active == 0 and ingest.last_end <= loop.time()
    assert await ingest.pause(deadline=loop.time() + 60, quiet=0.05) is True


async def test_an_http_patch_counts_as_an_upload_in_flight_until_it_is_answered(client: Any) -> None:
    path = await create(client, 10)
    ingest = client.app[INGEST]
    sent, release = asyncio.Event(), asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"01234"
        sent.set()
        await release.wait()
        yield b"56789"

    headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Content-Length": "10"}
    answer = asyncio.create_task(client.patch(path, headers=headers, data=body()))
    await asyncio.wait_for(sent.wait(), 10)
    for _ in range(1000):  # the server reads the first bytes (up to 10 s on a busy machine)
        if ingest.active:
            break
        await asyncio.sleep(0.01)
    assert ingest.active == 1
    release.set()
    response = await asyncio.wait_for(answer, 10)
    assert response.status == 204 and ingest.active == 0
    assert (await client.head(path, headers=TUS)).status == 200 and ingest.active == 0  # HEAD carries no upload
