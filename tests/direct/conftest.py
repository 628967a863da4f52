"""A real server on the S3 store (moto over HTTP) with Redis records and the arq hand-off, the
signing API on; a stand-in for the auth middleware names the caller (``X-Test-User``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.direct.client import DirectClient
from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE
from tusd_py.app import create_app
from tusd_py.auth.ports import CALLER, Caller
from tusd_py.settings import Settings
from tusd_py.state.memory import MemoryLocker


@web.middleware
async def test_caller(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """What the auth middleware does with a verified token, from a plain header."""
    if user := request.headers.get("X-Test-User"):
        request[CALLER] = Caller(user)
    return await handler(request)


def direct_settings(tmp_path: Path, moto_endpoint: str, bucket: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": moto_endpoint,
        "s3_path_style": True,
        "s3_min_part_size": MOTO_MIN_PART_SIZE,
        "direct_uploads": True,
        **extra,
    }
    return Settings.from_flat(**values)


@pytest.fixture
def media_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSD_MASTER_KEY", os.urandom(32).hex())  # shared storage: no key is made
    monkeypatch.setenv("TUSD_LADDER_HEIGHTS", "144")
    monkeypatch.setenv("TUSD_X264_PRESET", "ultrafast")
    monkeypatch.setenv("TUSD_THUMBNAIL_COUNT", "1")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def direct_server(
    media_env: None, aiohttp_server: Any, tmp_path: Path, moto_endpoint: str, s3_bucket: str, redis_url: str
) -> Callable[..., Any]:
    async def start(**extra: Any) -> tuple[Any, Settings]:
        settings = direct_settings(tmp_path, moto_endpoint, s3_bucket, redis_url=redis_url, **extra)
        # No background tasks: the tests run the worker (arq, burst) and the single-PUT sweep
        # (DirectService.settle_puts) themselves, at the moment they mean to.
        app = create_app(settings, locker=MemoryLocker(), background=False)
        app.middlewares.append(test_caller)
        server = await aiohttp_server(app)
        return server, settings

    return start


def client_for(http: aiohttp.ClientSession, server: Any, user: str = "", **kwargs: Any) -> DirectClient:
    base = str(server.make_url("")).rstrip("/")
    return DirectClient(http, base, headers={"X-Test-User": user} if user else {}, **kwargs)
