"""Identity on an app: the auth middleware, and with local accounts the ``/auth`` routes.

``app.py`` picks the stores (``RedisSessions`` with Redis, else the database's ``SqlSessions``;
the database's ``SqlUsers``) and hands them here; this module picks what the auth mode needs.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from ..settings import Settings
from .external import ExternalTokens
from .keys import PASSWORDS, RATE_LIMITS, SESSIONS, TOKENS, USERS
from .middleware import Gate, local_verifier
from .passwords import Passwords
from .ports import AUTHENTICATE, Sessions, Users
from .ratelimit import RateLimits
from .routes import setup_auth_routes
from .sessions import CachedSessions
from .tokens import Tokens

log = structlog.get_logger("tusd_py.auth")


def setup_auth(app: web.Application, settings: Settings, *, users: Users | None, sessions: Sessions | None) -> None:
    """Add the auth middleware (after the ones already there) and, for local accounts, the routes.
    Raises ``AuthConfigError`` for a configuration that cannot start (no token secret with S3)."""
    mode = settings.auth.auth
    if mode == "none":
        log.warning(
            "auth_disabled",
            detail="TUSD_AUTH=none: an open server; anyone who can reach it may upload, read and delete",
        )
        return
    limits = RateLimits(settings)
    app[RATE_LIMITS] = limits
    if mode == "jwt":
        gate = Gate(settings, ExternalTokens.from_settings(settings).verify, limits)
    else:
        if users is None or sessions is None:
            raise ValueError("TUSD_AUTH=local needs the users and sessions stores")
        tokens = Tokens.from_settings(settings)
        cached = CachedSessions(sessions)
        passwords = Passwords(settings.auth.password_hash_concurrency)
        app[USERS], app[SESSIONS], app[TOKENS], app[PASSWORDS] = users, cached, tokens, passwords
        setup_auth_routes(app)
        gate = Gate(settings, local_verifier(tokens, cached), limits)

        async def close_passwords(app: web.Application) -> None:
            passwords.close()

        app.on_cleanup.append(close_passwords)
    app[AUTHENTICATE] = gate.authenticate
    app.middlewares.append(gate.middleware())
