"""Processing waits for a pause in uploads (ingest.py): never during a burst, never starved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tusd_py.completion import InProcessQueue
from tusd_py.ingest import IngestActivity
from tusd_py.keys import INGEST

from .web.helpers import OCTET, TUS, create, patch, vanish


class _Jobs:
    """An in-process queue whose jobs only record that they ran, running while the test lasts."""

    def __init__(self, defer_max: float) -> None:
        self.ingest = IngestActivity()
        self.started: list[str] = []
        self.ran = asyncio.Event()
        self.queue = InProcessQueue(self._handle)
        self.queue.ingest, self.queue.defer_max = self.ingest, defer_max

    async def _handle(self, upload_id: str) -> None:
        self.started.append(upload_id)
        self.ran.set()


@asynccontextmanager
async def _running(defer_max: float) -> AsyncIterator[_Jobs]:
    jobs = _Jobs(defer_max)
    runner = asyncio.create_task(jobs.queue.run())
    try:
        yield jobs
    finally:
        runner.cancel()


async def test_a_job_waits_while_an_upload_body_is_in_flight() -> None:
    async with _running(defer_max=60.0) as jobs:
        with jobs.ingest.receiving():
            await jobs.queue.put("u1")
            await asyncio.sleep(0.5)  # five quiet periods: a job that ignored the body would have run
            assert jobs.started == []
        await asyncio.wait_for(jobs.ran.wait(), 10)  # the body ended: the pause comes, the job runs
        assert jobs.started == ["u1"]


async def test_a_job_runs_by_its_deadline_under_a_steady_stream_of_uploads() -> None:
    async with _running(defer_max=0.3) as jobs:
        with jobs.ingest.receiving():  # the stream never pauses
            await jobs.queue.put("u1")
            await asyncio.wait_for(jobs.ran.wait(), 10)
            assert jobs.started == ["u1"] and jobs.ingest.active == 1


async def test_no_deferral_when_it_is_switched_off() -> None:
    async with _running(defer_max=0.0) as jobs:
        with jobs.ingest.receiving():
            await jobs.queue.put("u1")
            await asyncio.wait_for(jobs.ran.wait(), 10)
            assert jobs.started == ["u1"]


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


async def _settled(ingest: IngestActivity) -> int:
    for _ in range(1000):  # the server notices the end of the request (up to 10 s on a busy machine)
        if ingest.active == 0:
            break
        await asyncio.sleep(0.01)
    return ingest.active


async def test_a_refused_patch_is_not_left_in_flight(client: Any) -> None:
    path = await create(client, 10)
    ingest = client.app[INGEST]
    assert (await patch(client, path, 5, b"56789")).status == 409  # wrong offset
    assert ingest.active == 0 and ingest.last_end > float("-inf")


async def test_a_client_that_vanishes_mid_body_is_not_left_in_flight(client: Any) -> None:
    path = await create(client, 4000)
    ingest = client.app[INGEST]
    await vanish(client.port, path, 4000, b"x" * 1500)
    assert await _settled(ingest) == 0  # a count left behind would hold every later job to its deadline
