"""An app with local accounts: the embedded default's stores replaced by small in-memory ones
(``MemoryUsers``, ``MemorySessions``), or Redis sessions on the private redis-server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tusd_py.app import create_app
from tusd_py.auth.sessions import MemorySessions
from tusd_py.settings import Settings

from .fakes import MemoryUsers

Client = TestClient[web.Request, web.Application]
MakeAuthClient = Callable[..., Awaitable[Client]]
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def make_auth_client(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> MakeAuthClient:
    async def make(prepare: Callable[[web.Application], None] | None = None, **overrides: Any) -> Client:
        """``prepare`` gets the app before it starts (to set what app.py would)."""
        values: dict[str, Any] = {"auth": "local", "cookie_secure": False, "store": "memory"}
        values.update(overrides)
        settings = make_settings(**values)
        sessions = None if settings.redis.redis_url else MemorySessions()
        app = create_app(settings, background=False, users=MemoryUsers(), sessions=sessions)
        if prepare is not None:
            prepare(app)
        client: Client = await aiohttp_client(app)
        return client

    return make


@pytest.fixture(params=["memory", "redis"])
async def auth_client(request: pytest.FixtureRequest, make_auth_client: MakeAuthClient) -> Client:
    """Local accounts, with sessions in memory (as the embedded default keeps them in-process) or in Redis."""
    if request.param == "redis":
        return await make_auth_client(redis_url=request.getfixturevalue("redis_url"))
    return await make_auth_client()


async def register(client: Client, email: str = "ann@example.com", password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/auth/register", json={"email": email, "password": password})
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def login(client: Client, email: str = "ann@example.com", password: str = PASSWORD) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SAME_SITE = {"X-Requested-With": "test"}
