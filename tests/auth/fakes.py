"""A small in-memory ``Users`` for the tests that need accounts but not the database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tusd_py.auth.ports import EmailTaken, User, Users


class MemoryUsers:
    def __init__(self) -> None:
        self.rows: dict[str, User] = {}

    async def create(self, email: str, password_hash: str) -> User:
        if any(u.email == email for u in self.rows.values()):
            raise EmailTaken(email)
        user = User(uuid.uuid4().hex, email, password_hash, time.time())
        self.rows[user.id] = user
        return user

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.rows.values() if u.email == email), None)

    async def by_id(self, user_id: str) -> User | None:
        return self.rows.get(user_id)

    async def list(self) -> Sequence[User]:
        return sorted(self.rows.values(), key=lambda u: u.created_at)

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        if user_id not in self.rows:
            return False
        self.rows[user_id] = replace(self.rows[user_id], disabled=disabled)
        return True

    async def delete(self, user_id: str) -> bool:
        return self.rows.pop(user_id, None) is not None


if TYPE_CHECKING:
    _users: type[Users] = MemoryUsers
