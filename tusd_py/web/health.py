"""Liveness and readiness: ``GET /healthz`` and ``GET /readyz`` (HEAD too), outside the tus base path.

``/healthz`` says the process and its event loop live: 200 ``ok``, touching nothing.
``/readyz`` asks each dependency the composition root registered (``READINESS``: storage,
Redis when configured, the database) whether it answers, all at once, each within
``CHECK_TIMEOUT``: 200 ``{"status": "ready", "checks": {...}}``, or 503 with the same shape
naming what does not answer. The checks only read (HeadBucket, PING, ``SELECT 1``), and one
result serves every request for ``CACHE_SECONDS``, so polling every second from several
balancers costs one round of checks per second. This module knows no S3, Redis or SQL: each
dependency implements ``Readiness``.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Protocol, runtime_checkable

import structlog
from aiohttp import web

log = structlog.get_logger("tusd_py.health")

CHECK_TIMEOUT = 2.0  # seconds each dependency has to answer
CACHE_SECONDS = 1.0  # one round of checks serves every probe for this long


@runtime_checkable
class Readiness(Protocol):
    async def ready(self) -> None:
        """Return if the dependency answers; raise (anything) if it does not."""


class ReadinessProbe:
    """Runs the named checks concurrently; one round in flight at a time, its result kept briefly."""

    def __init__(
        self, checks: dict[str, Readiness], *, timeout: float = CHECK_TIMEOUT, cache: float = CACHE_SECONDS
    ) -> None:
        self.checks = checks
        self.timeout = timeout
        self.cache = cache
        self._result: tuple[float, dict[str, str]] | None = None  # (loop time measured, name -> "ok" or why not)
        self._round: asyncio.Task[dict[str, str]] | None = None

    async def _one(self, name: str, check: Readiness) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                await check.ready()
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as exc:  # whatever the dependency raises: not ready, and why
            return f"{type(exc).__name__}: {exc}"[:200]
        return "ok"

    async def _measure(self) -> dict[str, str]:
        names = list(self.checks)
        results = dict(zip(names, await asyncio.gather(*(self._one(n, self.checks[n]) for n in names)), strict=True))
        if failing := {name: why for name, why in results.items() if why != "ok"}:
            log.warning("not_ready", **failing)  # once per round, not once per probe
        return results

    async def results(self) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        if self._result is not None and loop.time() - self._result[0] < self.cache:
            return self._result[1]
        if self._round is None or self._round.done():
            # A fresh context: the round serves many probes, its log line belongs to none of them.
            self._round = asyncio.create_task(self._measure(), name="readiness", context=contextvars.Context())
        # Shielded: a prober that hangs up does not cancel the round the others wait for.
        results = await asyncio.shield(self._round)
        self._result = (loop.time(), results)
        return results


READINESS = web.AppKey("tusd_py.readiness", ReadinessProbe)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[READINESS].results()
    failing = any(why != "ok" for why in checks.values())
    body = {"status": "unavailable" if failing else "ready", "checks": checks}
    return web.json_response(body, status=503 if failing else 200, headers={"Cache-Control": "no-store"})


def setup_health_routes(app: web.Application, checks: dict[str, Readiness]) -> None:
    """``/healthz`` and ``/readyz`` (GET and HEAD) over ``checks``, keyed by the name a 503 shows."""
    app[READINESS] = ReadinessProbe(checks)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
