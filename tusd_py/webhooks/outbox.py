"""The outbox: webhook deliveries recorded in the SQL database before anything is sent.

One row per event and URL in ``webhook_deliveries``. An event is recorded where it happens (the
server's core, the worker's job) and sent later by a ``Dispatcher`` of any API instance, so a
restart, a crash or a receiver that is down loses nothing. Rows are keyed by the event's
deterministic id and the URL, and a second record of the same event is ignored: the places that
record events may repeat themselves after a crash (that is how at-least-once is kept), and the
receiver still sees one delivery per event and URL, barring a crash mid-send.

Claiming: a due row is claimed by moving its ``next_attempt_at`` forward by a lease, in one
``UPDATE ... WHERE id = ? AND next_attempt_at = ?``: of two instances that saw the same row
due, one changes it and the other changes nothing. A sender that dies leaves the row due again
when the lease ends.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db.engine import unavailable_as
from ..db.tables import webhook_deliveries
from ..protocol.errors import StorageUnavailable


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event: str
    url: str
    body: str
    attempts: int  # failed attempts so far
    next_attempt_at: float
    created_at: float
    last_error: str = ""


class Outbox(Protocol):
    async def record(self, event: str, event_id: str, body: str, urls: Sequence[str], now: float) -> None:
        """One due delivery of ``body`` per URL; an event already recorded for a URL is left alone."""

    async def due(self, now: float, limit: int) -> list[Delivery]:
        """Deliveries whose next attempt is due, oldest first."""

    async def claim(self, delivery: Delivery, until: float) -> bool:
        """Lease ``delivery`` until ``until``; False if another sender changed it first."""

    async def delivered(self, delivery_id: str) -> None: ...

    async def failed(self, delivery_id: str, attempts: int, next_attempt_at: float, error: str) -> None: ...

    async def drop(self, delivery_id: str) -> None:
        """Given up: the last attempt failed."""


def delivery_id(event_id: str, url: str) -> str:
    return hashlib.sha256(f"{event_id} {url}".encode()).hexdigest()[:32]


class SqlOutbox:
    """The outbox on SQLAlchemy Core: SQLite in the embedded default, PostgreSQL in production.
    An unavailable database is ``StorageUnavailable`` (503 in a request)."""

    def __init__(self, engine: AsyncEngine, table: sa.Table = webhook_deliveries) -> None:
        self.engine = engine
        self.table = table

    def _insert(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(self.table).on_conflict_do_nothing(index_elements=["id"])
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(self.table).on_conflict_do_nothing(index_elements=["id"])

    async def record(self, event: str, event_id: str, body: str, urls: Sequence[str], now: float) -> None:
        rows = [
            {
                "id": delivery_id(event_id, url),
                "event": event,
                "url": url,
                "body": body,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "last_error": "",
            }
            for url in urls
        ]
        if rows:
            with _unavailable():
                async with self.engine.begin() as conn:
                    await conn.execute(self._insert(), rows)

    async def due(self, now: float, limit: int) -> list[Delivery]:
        t = self.table
        query = sa.select(t).where(t.c.next_attempt_at <= now).order_by(t.c.next_attempt_at).limit(limit)
        with _unavailable():
            async with self.engine.connect() as conn:
                result = await conn.execute(query)
                return [_delivery(row._mapping) for row in result]

    async def claim(self, delivery: Delivery, until: float) -> bool:
        t = self.table
        query = (
            sa.update(t)
            .where(t.c.id == delivery.id, t.c.next_attempt_at == delivery.next_attempt_at)
            .values(next_attempt_at=until)
        )
        with _unavailable():
            async with self.engine.begin() as conn:
                return (await conn.execute(query)).rowcount == 1

    async def delivered(self, delivery_id: str) -> None:
        await self.drop(delivery_id)

    async def failed(self, delivery_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        t = self.table
        query = (
            sa.update(t)
            .where(t.c.id == delivery_id)
            .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error[:1000])
        )
        with _unavailable():
            async with self.engine.begin() as conn:
                await conn.execute(query)

    async def drop(self, delivery_id: str) -> None:
        with _unavailable():
            async with self.engine.begin() as conn:
                await conn.execute(sa.delete(self.table).where(self.table.c.id == delivery_id))

    async def pending(self) -> list[Delivery]:
        """Every recorded delivery (operators, tests)."""
        return await self.due(float("inf"), 1_000_000)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row["id"],
        event=row["event"],
        url=row["url"],
        body=row["body"],
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        created_at=float(row["created_at"]),
        last_error=row["last_error"] or "",
    )


def _unavailable() -> contextlib.AbstractContextManager[None]:
    """Database trouble (unreachable, locked, restarting) is a storage outage to the callers."""
    return unavailable_as(StorageUnavailable, "the webhook outbox")
