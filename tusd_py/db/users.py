"""``SqlUsers``: the accounts (``tusd_py.auth.ports.Users``) in the ``users`` table.

The caller normalises emails (trimmed, lower-cased); the table's unique constraint keeps them
unique, so two registrations racing for one email end with one account and one ``EmailTaken``.
Ids are 128 random bits (``uuid4().hex``): they appear in tokens and in the catalogue, and
must not be guessable or ordered. A database that does not answer raises the server's
``StorageUnavailable`` (503).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exc, insert, select, update

from ..auth.ports import EmailTaken, User, Users
from ..protocol.errors import StorageUnavailable
from .engine import Database, unavailable_as
from .tables import users


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        created_at=row.created_at,
        disabled=bool(row.disabled),
    )


class SqlUsers:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine

    async def create(self, email: str, password_hash: str) -> User:
        user = User(id=uuid.uuid4().hex, email=email, password_hash=password_hash, created_at=time.time())
        values = {"id": user.id, "email": email, "password_hash": password_hash, "created_at": user.created_at}
        try:
            with unavailable_as(StorageUnavailable, "the accounts"):
                async with self.engine.begin() as conn:
                    await conn.execute(insert(users).values(**values, disabled=False))
        except exc.IntegrityError as problem:  # the unique email (a random id does not collide)
            raise EmailTaken(email) from problem
        return user

    async def _one(self, where: Any) -> User | None:
        with unavailable_as(StorageUnavailable, "the accounts"):
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(users).where(where))).first()
        return _user(row) if row is not None else None

    async def by_email(self, email: str) -> User | None:
        return await self._one(users.c.email == email)

    async def by_id(self, user_id: str) -> User | None:
        return await self._one(users.c.id == user_id)

    async def list(self) -> Sequence[User]:
        with unavailable_as(StorageUnavailable, "the accounts"):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(users).order_by(users.c.created_at, users.c.id))).all()
        return [_user(row) for row in rows]

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        with unavailable_as(StorageUnavailable, "the accounts"):
            async with self.engine.begin() as conn:
                result = await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
        return result.rowcount > 0

    async def delete(self, user_id: str) -> bool:
        """Its embedded sessions go with it (ON DELETE CASCADE)."""
        with unavailable_as(StorageUnavailable, "the accounts"):
            async with self.engine.begin() as conn:
                result = await conn.execute(delete(users).where(users.c.id == user_id))
        return result.rowcount > 0


if TYPE_CHECKING:
    _users: type[Users] = SqlUsers
