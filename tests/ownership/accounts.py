"""Clients that act for a user: a bearer token from the server's own ``POST /auth/register`` and
``POST /auth/login`` (``TUSD_AUTH=local``), sent on every request."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from tusd_py.auth.keys import PASSWORDS

PASSWORD = "correct horse battery staple"
JWT_SECRET = "s" * 40  # an S3 server does not start with a generated token key
AUTH_SETTINGS: dict[str, Any] = {"auth": "local", "cookie_secure": False, "jwt_secret": JWT_SECRET}


def cheap_passwords(app: web.Application) -> web.Application:
    """Before the app starts: argon2 at its lowest cost. These tests log in hundreds of times, and
    what they test is who owns what, not the strength of a hash (tests/auth has those)."""
    app[PASSWORDS].hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    return app


async def login(client: TestClient[Any, Any], email: str | None = None) -> dict[str, str]:
    """A new user's ``Authorization`` header: registered, then logged in."""
    account = {"email": email or f"user-{secrets.token_hex(6)}@example.test", "password": PASSWORD}
    registered = await client.post("/auth/register", json=account)
    assert registered.status == 201, await registered.text()
    logged_in = await client.post("/auth/login", json=account)
    assert logged_in.status == 200, await logged_in.text()
    return {"Authorization": f"Bearer {(await logged_in.json())['access_token']}"}


def user_of(headers: Mapping[str, str]) -> str:
    """The user id behind an ``Authorization`` header (the token's ``sub``), as UploadInfo.owner holds it."""
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def s3_overrides(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_path_style": True,
        "master_key": os.urandom(32).hex(),
    }
