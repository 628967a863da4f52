"""The running job's heartbeat: the fact behind a record that says ``processing``.

``media:heartbeat:<upload id>``
    Set by the running job (``Heartbeat``) before it claims its record, renewed every
    ``TUSD_JOB_HEARTBEAT`` seconds by a task of its own on the worker's event loop (the transcode
    runs in the process pool, so a busy job still beats) and living three beats; deleted when
    the job ends. Its value names the holder (host, pid, try) for the logs.

The watchdog that reads it is ``recovery.Recovery``; arq's own in-progress key cannot serve,
since it outlives a killed worker by the longest job (``recovery.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import structlog

from .errors import StorageUnavailable
from .settings import PipelineSettings

log = structlog.get_logger("pipeline.heartbeat")

HEARTBEAT_PREFIX = "media:heartbeat:"


def heartbeat_key(upload_id: str) -> str:
    return HEARTBEAT_PREFIX + upload_id


def redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, StorageUnavailable)


class Heartbeat:
    """``async with Heartbeat(...)``: the running job's heartbeat, from entry to exit.

    A Redis that does not answer a beat costs a warning, never the job: the job's own writes
    decide whether it can go on, and a Redis restarted from its AOF gets the next beat."""

    def __init__(self, redis: Any, upload_id: str, settings: PipelineSettings, *, job_try: int = 1) -> None:
        self.redis, self.key, self.settings = redis, heartbeat_key(upload_id), settings
        self.holder = f"{socket.gethostname()}:{os.getpid()}:try{job_try}"
        self._task: asyncio.Task[None] | None = None
        self._forget = redis.register_script(_FORGET)

    async def beat(self) -> None:
        try:
            await self.redis.set(self.key, self.holder, px=int(self.settings.heartbeat_ttl * 1000))
        except redis_errors() as exc:
            log.warning("heartbeat_failed", key=self.key, error=str(exc))

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_heartbeat)
            await self.beat()

    async def __aenter__(self) -> Heartbeat:
        await self.beat()
        self._task = asyncio.create_task(self._beat_forever(), name=f"heartbeat:{self.key}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self._forget(keys=[self.key], args=[self.holder])
        except redis_errors() as exc:  # it expires by itself
            log.warning("heartbeat_failed", key=self.key, error=str(exc))


# KEYS: heartbeat. ARGV: holder. A late run never deletes the beat of the run that replaced it.
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
