"""Clients that act for a user: a bearer token on every request.

Tokens come from the server's own ``POST /auth/register`` and ``POST /auth/login`` where the
auth package has wired them (``TUSD_AUTH=local``). Where it has not (yet), ``authenticate``
installs a stand-in middleware that treats ``Authorization: Bearer <user id>`` as the caller
and answers 401 without one, so the ownership rules are tested the same way through HTTP.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tusd_py.auth.ports import CALLER, Caller

PASSWORD = "correct horse battery staple"
JWT_SECRET = "s" * 40  # an S3 server does not start with a generated token key
AUTH_SETTINGS: dict[str, Any] = {"auth": "local", "cookie_secure": False, "jwt_secret": JWT_SECRET}


def has_account_routes(app: web.Application) -> bool:
    return any(getattr(resource, "canonical", "") == "/auth/login" for resource in app.router.resources())


@web.middleware
async def stand_in_auth(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """What the auth middleware does, as far as ownership needs it: no token, no request."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        return web.Response(
            status=401, text="ERR_UNAUTHORIZED: authentication required\n", headers={"WWW-Authenticate": "Bearer"}
        )
    request[CALLER] = Caller(header[7:].strip())
    return await handler(request)


def authenticate(app: web.Application) -> web.Application:
    """Before the app starts: the stand-in unless the real auth routes are wired. With the real
    ones, argon2 runs at its lowest cost: these tests log in hundreds of times, and what they test
    is who owns what, not the strength of a hash (tests/auth has those)."""
    if not has_account_routes(app):
        app.middlewares.append(stand_in_auth)
    else:
        from pwdlib import PasswordHash
        from pwdlib.hashers.argon2 import Argon2Hasher

        from tusd_py.auth.keys import PASSWORDS

        app[PASSWORDS].hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    return app


async def login(client: TestClient[Any, Any], email: str | None = None) -> dict[str, str]:
    """A new user's ``Authorization`` header (register + login, or the stand-in's user id)."""
    email = email or f"user-{secrets.token_hex(6)}@example.test"
    if not has_account_routes(client.app):
        return {"Authorization": f"Bearer {email}"}
    account = {"email": email, "password": PASSWORD}
    registered = await client.post("/auth/register", json=account)
    assert registered.status == 201, await registered.text()
    logged_in = await client.post("/auth/login", json=account)
    assert logged_in.status == 200, await logged_in.text()
    return {"Authorization": f"Bearer {(await logged_in.json())['access_token']}"}


def user_of(client: TestClient[Any, Any], headers: Mapping[str, str]) -> str:
    """The owner id behind a header, as stored in UploadInfo.owner (for the stand-in, the email)."""
    token = headers["Authorization"].removeprefix("Bearer ")
    if not has_account_routes(client.app):
        return token
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def s3_overrides(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_path_style": True,
        "master_key": os.urandom(32).hex(),
    }


def with_catalogue(app: web.Application) -> Any:
    """The app's catalogue: the one app.py wired (SQL), else an in-memory one put in its place."""
    from tusd_py.core.catalogue import NoCatalogue
    from tusd_py.keys import SERVICE

    from .fakes import MemoryCatalogue

    service = app[SERVICE]
    if isinstance(service.catalogue, NoCatalogue):
        service.use_catalogue(MemoryCatalogue())
    return service.catalogue
