"""``SqlSessions``: refresh sessions (``tusd_py.auth.ports.Sessions``) in the ``sessions`` table,
for the embedded default; production keeps them in Redis.

A session lives until ``expires_at`` (``ttl`` after its creation or its last rotation); an
expired row is as good as absent and is deleted when its user next logs in. ``rotate`` is one
``UPDATE ... WHERE id = :id AND jti = :old``: of two refreshes racing with the same token
exactly one wins, the other sees ``False`` and the caller revokes the session (reuse).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from ..auth.ports import Session, Sessions
from ..protocol.errors import StorageUnavailable
from .engine import Database, unavailable_as
from .tables import sessions

_WHAT = "the sessions"


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        jti=row.jti,
        created_at=row.created_at,
        last_used=row.last_used,
        user_agent=row.user_agent,
    )


class SqlSessions:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine

    async def create(self, session: Session, ttl: float) -> None:
        now = time.time()
        row = {
            "id": session.id,
            "user_id": session.user_id,
            "jti": session.jti,
            "created_at": session.created_at,
            "last_used": session.last_used,
            "expires_at": now + ttl,
            "user_agent": session.user_agent,
        }
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                expired = (sessions.c.user_id == session.user_id) & (sessions.c.expires_at <= now)
                await conn.execute(delete(sessions).where(expired))
                await conn.execute(insert(sessions).values(**row))

    async def get(self, session_id: str) -> Session | None:
        live = (sessions.c.id == session_id) & (sessions.c.expires_at > time.time())
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(sessions).where(live))).first()
        return _session(row) if row is not None else None

    async def rotate(self, session_id: str, old_jti: str, new_jti: str, now: float, ttl: float) -> bool:
        current = (sessions.c.id == session_id) & (sessions.c.jti == old_jti) & (sessions.c.expires_at > now)
        change = update(sessions).where(current).values(jti=new_jti, last_used=now, expires_at=now + ttl)
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                result = await conn.execute(change)
        return result.rowcount == 1

    async def revoke(self, session_id: str) -> None:
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                await conn.execute(delete(sessions).where(sessions.c.id == session_id))

    async def revoke_all(self, user_id: str) -> None:
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.begin() as conn:
                await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))

    async def list(self, user_id: str) -> Sequence[Session]:
        live = (sessions.c.user_id == user_id) & (sessions.c.expires_at > time.time())
        query = select(sessions).where(live).order_by(sessions.c.created_at, sessions.c.id)
        with unavailable_as(StorageUnavailable, _WHAT):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_session(row) for row in rows]


if TYPE_CHECKING:
    _sessions: type[Sessions] = SqlSessions
