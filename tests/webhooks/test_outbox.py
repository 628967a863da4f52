"""The outbox on SQLite and PostgreSQL: one row per event and URL however often it is recorded,
due rows oldest first, a claim that only one sender wins, retries and drops."""

from __future__ import annotations

import asyncio

from tusd_py.db.engine import Database
from tusd_py.webhooks.outbox import SqlOutbox, delivery_id

URLS = ("http://a.example/hook", "http://b.example/hook")


async def test_an_event_recorded_twice_is_one_delivery_per_url(database: Database) -> None:
    outbox = SqlOutbox(database.engine)
    await outbox.record("upload.created", "e1", '{"id":"e1"}', URLS, now=100.0)
    await outbox.record("upload.created", "e1", '{"id":"e1","again":true}', URLS, now=101.0)
    rows = await outbox.pending()
    assert sorted(r.url for r in rows) == sorted(URLS)
    assert {r.body for r in rows} == {'{"id":"e1"}'}  # the first record stands
    assert {r.id for r in rows} == {delivery_id("e1", url) for url in URLS}
    assert all(r.attempts == 0 and r.next_attempt_at == 100.0 for r in rows)


async def test_due_rows_come_oldest_first_and_future_ones_wait(database: Database) -> None:
    outbox = SqlOutbox(database.engine)
    await outbox.record("media.ready", "late", "{}", URLS[:1], now=300.0)
    await outbox.record("upload.created", "early", "{}", URLS[:1], now=100.0)
    await outbox.record("upload.finished", "middle", "{}", URLS[:1], now=200.0)
    due = await outbox.due(250.0, limit=10)
    assert [d.event for d in due] == ["upload.created", "upload.finished"]
    assert [d.event for d in await outbox.due(250.0, limit=1)] == ["upload.created"]


async def test_of_two_claims_on_one_due_row_exactly_one_wins(database: Database) -> None:
    outbox = SqlOutbox(database.engine)
    await outbox.record("upload.created", "e1", "{}", URLS[:1], now=100.0)
    [seen_by_a] = await outbox.due(150.0, limit=10)
    [seen_by_b] = await outbox.due(150.0, limit=10)
    won = await asyncio.gather(outbox.claim(seen_by_a, until=400.0), outbox.claim(seen_by_b, until=401.0))
    assert sorted(won) == [False, True]
    assert await outbox.due(399.0, limit=10) == []  # leased: nobody else sends it meanwhile
    [again] = await outbox.due(402.0, limit=10)  # the lease ran out: due again (a sender died)
    assert again.id == seen_by_a.id


async def test_a_failed_attempt_is_counted_and_a_delivered_or_dropped_row_is_gone(database: Database) -> None:
    outbox = SqlOutbox(database.engine)
    await outbox.record("media.failed", "e1", "{}", URLS, now=100.0)
    first, second = await outbox.pending()
    await outbox.failed(first.id, attempts=1, next_attempt_at=500.0, error="HTTP 500: refused")
    [waiting] = [d for d in await outbox.pending() if d.id == first.id]
    assert (waiting.attempts, waiting.next_attempt_at, waiting.last_error) == (1, 500.0, "HTTP 500: refused")
    await outbox.delivered(second.id)
    await outbox.drop(first.id)
    assert await outbox.pending() == []
