"""A real webhook receiver for the tests: an aiohttp server on 127.0.0.1 that records every
delivery and answers with the statuses a test scripts (then 200)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    delay: float = 0.0  # seconds before each answer
    answer: bytes = b""  # the body of each answer (default: "ok" or "refused")
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        await asyncio.sleep(self.delay)
        async with self.arrived:
            self.received.append(Received(dict(request.headers), body, status))
            self.arrived.notify_all()
        return web.Response(status=status, body=self.answer or (b"refused" if status >= 300 else b"ok"))

    def accepted(self, event: str | None = None) -> list[Received]:
        return [r for r in self.received if r.status == 200 and (event is None or r.document["event"] == event)]

    async def wait_for(self, count: int, event: str | None = None, timeout: float = 20.0) -> list[Received]:
        """Until ``count`` deliveries (of ``event``) were accepted."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.accepted(event)) >= count)
        return self.accepted(event)


@asynccontextmanager
async def receiving(
    port: int = 0, statuses: list[int] | None = None, *, delay: float = 0.0, answer: bytes = b""
) -> AsyncIterator[Receiver]:
    receiver = Receiver(statuses=list(statuses or []), delay=delay, answer=answer)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{bound}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()
