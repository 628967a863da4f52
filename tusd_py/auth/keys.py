"""The AppKeys of identity (app.py sets them; the routes and the middleware read them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .passwords import Passwords
from .ports import Users
from .ratelimit import RateLimits
from .sessions import CachedSessions
from .tokens import Tokens

USERS = web.AppKey("tusd_py.auth.users", Users)
SESSIONS = web.AppKey("tusd_py.auth.sessions", CachedSessions)  # revocations here take effect at once
TOKENS = web.AppKey("tusd_py.auth.tokens", Tokens)
PASSWORDS = web.AppKey("tusd_py.auth.passwords", Passwords)
RATE_LIMITS = web.AppKey("tusd_py.auth.rate_limits", RateLimits)
# Deletes everything an owner holds (uploads, processed media); DELETE /auth/me calls it before
# the account row goes. Set by app.py once the core provides it; absent, the account alone goes.
ERASER: web.AppKey[Callable[[str], Awaitable[None]]] = web.AppKey("tusd_py.auth.eraser")
