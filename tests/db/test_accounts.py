"""SqlUsers and SqlSessions on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from tusd_py.auth.ports import EmailTaken, Session
from tusd_py.db.engine import Database, create_engine, resolve_url
from tusd_py.db.sessions import SqlSessions
from tusd_py.db.users import SqlUsers
from tusd_py.protocol.errors import StorageUnavailable


async def test_create_then_find_by_email_and_id(database: Database) -> None:
    users = SqlUsers(database)
    user = await users.create("a@example.com", "hash-a")
    assert len(user.id) == 32 and user.email == "a@example.com" and not user.disabled
    assert await users.by_email("a@example.com") == user
    assert await users.by_id(user.id) == user
    assert await users.by_email("b@example.com") is None
    assert await users.by_id("nobody") is None


async def test_an_email_has_one_account_even_when_registrations_race(database: Database) -> None:
    users = SqlUsers(database)
    results = await asyncio.gather(*(users.create("a@example.com", f"h{i}") for i in range(6)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, EmailTaken) for r in results if isinstance(r, BaseException))
    assert len(await users.list()) == 1


async def test_list_disable_and_delete(database: Database) -> None:
    users = SqlUsers(database)
    first = await users.create("a@example.com", "h")
    second = await users.create("b@example.com", "h")
    assert [u.id for u in await users.list()] == [first.id, second.id]  # oldest first
    assert await users.set_disabled(first.id, True) is True
    found = await users.by_id(first.id)
    assert found is not None and found.disabled
    assert await users.set_disabled(first.id, False) is True
    found = await users.by_id(first.id)
    assert found is not None and not found.disabled
    assert await users.set_disabled("nobody", True) is False
    assert await users.delete(first.id) is True
    assert await users.delete(first.id) is False
    assert [u.id for u in await users.list()] == [second.id]


def _session(user_id: str, sid: str = "s1", jti: str = "j1", created: float | None = None) -> Session:
    now = created if created is not None else time.time()
    return Session(id=sid, user_id=user_id, jti=jti, created_at=now, last_used=now, user_agent="curl/8")


async def test_session_create_get_rotate(database: Database) -> None:
    user = await SqlUsers(database).create("a@example.com", "h")
    sessions = SqlSessions(database)
    await sessions.create(_session(user.id), ttl=60)
    found = await sessions.get("s1")
    assert found is not None and found.jti == "j1" and found.user_agent == "curl/8"
    now = time.time()
    assert await sessions.rotate("s1", "j1", "j2", now, 60) is True
    assert await sessions.rotate("s1", "j1", "j3", now, 60) is False  # the old token again: reuse
    rotated = await sessions.get("s1")
    assert rotated is not None and rotated.jti == "j2" and rotated.last_used == now
    assert await sessions.rotate("nope", "j2", "j3", now, 60) is False


async def test_racing_rotations_with_one_token_have_one_winner(database: Database) -> None:
    user = await SqlUsers(database).create("a@example.com", "h")
    sessions = SqlSessions(database)
    await sessions.create(_session(user.id), ttl=60)
    now = time.time()
    results = await asyncio.gather(*(sessions.rotate("s1", "j1", f"n{i}", now, 60) for i in range(8)))
    assert results.count(True) == 1


async def test_expired_sessions_are_absent_and_cannot_rotate(database: Database) -> None:
    user = await SqlUsers(database).create("a@example.com", "h")
    sessions = SqlSessions(database)
    await sessions.create(_session(user.id), ttl=0.05)
    await asyncio.sleep(0.1)
    assert await sessions.get("s1") is None
    assert await sessions.list(user.id) == []
    assert await sessions.rotate("s1", "j1", "j2", time.time(), 60) is False
    await sessions.create(_session(user.id, "s2"), ttl=60)  # a new login clears the expired row
    async with database.engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT id FROM sessions")).scalars().all() == ["s2"]


async def test_revoke_revoke_all_list_and_cascade(database: Database) -> None:
    users = SqlUsers(database)
    alice, bob = await users.create("a@example.com", "h"), await users.create("b@example.com", "h")
    sessions = SqlSessions(database)
    await sessions.create(_session(alice.id, "a1", created=1.0), ttl=60)
    await sessions.create(_session(alice.id, "a2", created=2.0), ttl=60)
    await sessions.create(_session(bob.id, "b1"), ttl=60)
    assert [s.id for s in await sessions.list(alice.id)] == ["a1", "a2"]
    await sessions.revoke("a1")
    assert await sessions.get("a1") is None
    await sessions.revoke_all(alice.id)
    assert await sessions.list(alice.id) == []
    assert await sessions.get("b1") is not None
    await users.delete(bob.id)  # foreign key ON DELETE CASCADE, on SQLite too (PRAGMA foreign_keys)
    assert await sessions.get("b1") is None


async def test_a_session_needs_its_user(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        await SqlSessions(database).create(_session("no-such-user"), ttl=60)


async def test_an_unreachable_database_is_a_503() -> None:
    database = Database(create_engine(resolve_url("postgresql://x@127.0.0.1:9/none", ".")))
    try:
        with pytest.raises(StorageUnavailable):
            await SqlUsers(database).by_email("a@example.com")
        with pytest.raises(StorageUnavailable):
            await SqlSessions(database).get("s1")
    finally:
        await database.close()
