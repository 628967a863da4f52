"""What the auth package asks of its surroundings, and what it hands to the rest of the server.

``Caller`` is what the auth middleware attaches to each request (``request[CALLER]``); handlers
pass ``caller.user_id`` to the core as the owner. ``Users`` is kept by the SQL database
(``tusd_py/db``); ``Sessions`` by Redis, or by the database in the embedded default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated identity of one request. ``session_id`` is empty for external JWTs."""

    user_id: str
    session_id: str = ""


CALLER = web.RequestKey("tusd_py.caller", Caller)
# The auth middleware's check, for code that runs before the middlewares: aiohttp calls a route's
# expect handler (Expect: 100-continue) first. It sets ``request[CALLER]`` (None: a public route;
# raises the 401 ``Unauthorized``), and the middleware then trusts what it found. Absent when
# TUSD_AUTH=none.
AUTHENTICATE: web.AppKey[Callable[[web.Request], Awaitable[Caller | None]]] = web.AppKey("tusd_py.authenticate")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str  # normalised (trimmed, lower-cased)
    password_hash: str
    created_at: float
    disabled: bool = False


class EmailTaken(Exception):
    """``Users.create`` with an email that already has an account."""


class Users(Protocol):
    async def create(self, email: str, password_hash: str) -> User:
        """A new user with a fresh id; raises EmailTaken."""

    async def by_email(self, email: str) -> User | None: ...

    async def by_id(self, user_id: str) -> User | None: ...

    async def list(self) -> Sequence[User]: ...

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """False if there is no such user."""

    async def delete(self, user_id: str) -> bool:
        """Remove the account row (its uploads are removed by the caller first)."""


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: str
    jti: str  # the current refresh token's id; an older one presented again revokes the session
    created_at: float
    last_used: float
    user_agent: str = ""


class Sessions(Protocol):
    async def create(self, session: Session, ttl: float) -> None: ...

    async def get(self, session_id: str) -> Session | None:
        """The live session, or None (revoked, expired, unknown)."""

    async def rotate(self, session_id: str, old_jti: str, new_jti: str, now: float, ttl: float) -> bool:
        """Compare-and-set the current JTI; False if ``old_jti`` is not current (reuse: caller revokes)."""

    async def revoke(self, session_id: str) -> None: ...

    async def revoke_all(self, user_id: str) -> None: ...

    async def list(self, user_id: str) -> Sequence[Session]: ...
