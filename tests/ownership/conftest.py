"""Authenticated clients: the server with accounts on (TUSD_AUTH=local) and a catalogue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tusd_py.app import create_app
from tusd_py.settings import Settings

from .accounts import AUTH_SETTINGS, cheap_passwords

MakeAuthClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def make_auth_client(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> MakeAuthClient:
    async def make(**overrides: Any) -> TestClient[web.Request, web.Application]:
        app = cheap_passwords(create_app(make_settings(**{**AUTH_SETTINGS, **overrides}), background=False))
        client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
        return client

    return make
