"""The dispatcher against a real receiver (aiohttp on 127.0.0.1): signed deliveries, retries with
backoff after 5xx, giving up after the last attempt, no redirects, and two dispatchers on one
outbox sending each delivery once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.fixtures.moto_server import free_port
from tests.webhooks.receiver import Received, receiving
from tusd_py.db.engine import Database, create_engine, resolve_url
from tusd_py.db.migrate import upgrade
from tusd_py.metrics import Metrics
from tusd_py.webhooks import signing
from tusd_py.webhooks.dispatcher import Dispatcher
from tusd_py.webhooks.outbox import SqlOutbox
from tusd_py.webhooks.settings import WebhookSettings
from tusd_py.webhooks.sources import EventRecorder

SECRET = "a-test-secret-of-some-length"


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[SqlOutbox]:
    database = Database(create_engine(resolve_url("", str(tmp_path))))
    await upgrade(database)
    yield SqlOutbox(database.engine)
    await database.close()


def settings(url: str, **overrides: object) -> WebhookSettings:
    values: dict[str, object] = {
        "webhook_urls": url,
        "webhook_secret": SECRET,
        "webhook_backoff": 0.05,
        "webhook_poll_interval": 0.05,
        "webhook_timeout": 5.0,
        **overrides,
    }
    return WebhookSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def dispatching(
    outbox: SqlOutbox, config: WebhookSettings, on_attempt: Callable[[str], None] | None = None
) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(outbox, config, on_attempt)
    task = asyncio.create_task(dispatcher.run_forever())
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def drained(outbox: SqlOutbox, timeout: float = 10.0) -> None:
    """Until no delivery is left (the receiver may answer before the dispatcher removes the row)."""
    deadline = time.monotonic() + timeout
    while await outbox.pending():
        assert time.monotonic() < deadline, "deliveries left in the outbox"
        await asyncio.sleep(0.02)


def assert_signed(delivery: Received, secret: str = SECRET) -> None:
    headers = delivery.headers
    assert headers["Content-Type"] == "application/json"
    timestamp = headers[signing.TIMESTAMP_HEADER]
    assert abs(time.time() - int(timestamp)) < 30  # taken when the attempt was sent
    assert signing.verify(secret, delivery.body, timestamp, headers[signing.SIGNATURE_HEADER])
    assert headers[signing.EVENT_HEADER] == delivery.document["event"]
    assert headers[signing.DELIVERY_HEADER] == delivery.document["id"]


async def test_a_delivery_refused_twice_with_500_arrives_on_the_third_attempt(outbox: SqlOutbox) -> None:
    async with receiving(statuses=[500, 500]) as receiver:
        config = settings(receiver.url)
        recorder = EventRecorder(outbox, config.urls)
        await recorder.record("upload.finished", "ev1", "up1", owner="u1", size=5, name="a.txt")
        started = time.monotonic()
        metrics = Metrics()
        async with dispatching(outbox, config, metrics.webhook_attempt):
            await receiver.wait_for(1)
            await drained(outbox)
        assert time.monotonic() - started >= 0.05 + 0.1  # backoff 0.05 s, then 0.1 s (doubled)
    assert [r.status for r in receiver.received] == [500, 500, 200]
    exposed = metrics.render().decode()
    assert 'tusd_py_webhook_deliveries_total{outcome="failed"} 2.0' in exposed
    assert 'tusd_py_webhook_deliveries_total{outcome="delivered"} 1.0' in exposed
    assert 'tusd_py_webhook_deliveries_total{outcome="gave_up"} 0.0' in exposed
    assert len({r.body for r in receiver.received}) == 1  # the same body each time, signed anew
    for delivery in receiver.received:
        assert_signed(delivery)
    document = receiver.received[-1].document
    assert document["event"] == "upload.finished" and document["id"] == "ev1"
    assert (document["upload_id"], document["owner"], document["size"], document["name"]) == ("up1", "u1", 5, "a.txt")
    assert document["occurred_at"].endswith("Z")


async def test_a_signature_made_with_another_secret_or_over_another_body_does_not_verify(outbox: SqlOutbox) -> None:
    async with receiving() as receiver:
        config = settings(receiver.url)
        await EventRecorder(outbox, config.urls).record("upload.created", "ev1", "up1")
        async with dispatching(outbox, config):
            [delivery] = await receiver.wait_for(1)
    timestamp, signed = delivery.headers[signing.TIMESTAMP_HEADER], delivery.headers[signing.SIGNATURE_HEADER]
    assert signing.verify(SECRET, delivery.body, timestamp, signed)
    assert not signing.verify("another-secret-of-some-length", delivery.body, timestamp, signed)
    assert not signing.verify(SECRET, delivery.body.replace(b"up1", b"up2"), timestamp, signed)
    assert not signing.verify(SECRET, delivery.body, str(int(timestamp) + 1), signed)


def test_a_replayed_delivery_older_than_the_window_is_refused() -> None:
    body, sent = b'{"event":"media.ready"}', 1_700_000_000
    signed = signing.signature(SECRET, sent, body)
    assert signing.verify(SECRET, body, str(sent), signed, now=sent + 299)
    assert not signing.verify(SECRET, body, str(sent), signed, now=sent + 301)
    assert not signing.verify(SECRET, body, str(sent), signed, now=sent - 301)  # from the future
    assert not signing.verify(SECRET, body, "-1", signed, now=sent)
    assert not signing.verify(SECRET, body, "", signed, now=sent)


async def test_after_the_last_attempt_a_delivery_is_dropped_and_logged(outbox: SqlOutbox) -> None:
    async with receiving(statuses=[500] * 10) as receiver:
        config = settings(receiver.url, webhook_max_attempts=3)
        await EventRecorder(outbox, config.urls).record("media.failed", "ev1", "up1")
        outcomes: list[str] = []
        with capture_logs() as logs:
            async with dispatching(outbox, config, outcomes.append):
                await drained(outbox)
    assert [r.status for r in receiver.received] == [500, 500, 500]
    assert outcomes == ["failed", "failed", "gave_up"]
    gave_up = [line for line in logs if line["event"] == "webhook_gave_up"]
    assert len(gave_up) == 1 and gave_up[0]["attempts"] == 3 and "HTTP 500" in gave_up[0]["error"]
    assert gave_up[0]["log_level"] == "error" and gave_up[0]["url"] == receiver.url


async def test_a_redirect_is_a_failed_attempt_not_followed(outbox: SqlOutbox) -> None:
    async with receiving(statuses=[302]) as receiver:
        config = settings(receiver.url)
        await EventRecorder(outbox, config.urls).record("upload.created", "ev1", "up1")
        async with dispatching(outbox, config):
            await receiver.wait_for(1)
    assert [r.status for r in receiver.received] == [302, 200]


async def test_an_unreachable_receiver_leaves_the_delivery_waiting_with_its_error(outbox: SqlOutbox) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    config = settings(url, webhook_backoff=60.0)
    await EventRecorder(outbox, config.urls).record("upload.created", "ev1", "up1")
    async with dispatching(outbox, config):
        deadline = time.monotonic() + 10
        while not (pending := await outbox.pending()) or pending[0].attempts == 0:
            assert time.monotonic() < deadline, "no failed attempt recorded"
            await asyncio.sleep(0.02)
    [waiting] = pending
    assert waiting.attempts == 1 and "Connect" in waiting.last_error
    assert waiting.next_attempt_at > time.time() + 50  # the backoff, not the lease


async def test_a_receiver_too_slow_or_answering_at_length_fails_the_attempt_with_a_short_error(
    outbox: SqlOutbox,
) -> None:
    async with receiving(delay=1.0) as receiver:
        config = settings(receiver.url, webhook_timeout=0.3, webhook_backoff=60.0)
        await EventRecorder(outbox, config.urls).record("upload.created", "ev1", "up1")
        async with dispatching(outbox, config):
            deadline = time.monotonic() + 10
            while not (pending := await outbox.pending()) or pending[0].attempts == 0:
                assert time.monotonic() < deadline, "no failed attempt recorded"
                await asyncio.sleep(0.02)
    assert pending[0].last_error.startswith(("TimeoutError", "ServerTimeoutError"))
    await outbox.drop(pending[0].id)
    async with receiving(statuses=[503], answer=b"x" * 100_000) as receiver:
        config = settings(receiver.url, webhook_backoff=60.0)
        await EventRecorder(outbox, config.urls).record("upload.created", "ev2", "up2")
        async with dispatching(outbox, config):
            deadline = time.monotonic() + 10
            while not (pending := await outbox.pending()) or pending[0].attempts == 0:
                assert time.monotonic() < deadline, "no failed attempt recorded"
                await asyncio.sleep(0.02)
    assert pending[0].last_error == "HTTP 503: " + "x" * 200  # what is kept of a long answer


async def test_two_dispatchers_on_one_outbox_send_each_delivery_once(database: Database) -> None:
    outbox = SqlOutbox(database.engine)  # SQLite and PostgreSQL: the claim is one UPDATE on each
    async with receiving() as receiver:
        config = settings(receiver.url)
        recorder = EventRecorder(outbox, config.urls)
        for n in range(40):
            await recorder.record("upload.created", f"ev{n}", f"up{n}")
        async with dispatching(outbox, config), dispatching(SqlOutbox(outbox.engine), config):
            await receiver.wait_for(40)
            await drained(outbox)
            await asyncio.sleep(0.3)  # time for a duplicate to show up
    ids = [json.loads(r.body)["id"] for r in receiver.received]
    assert sorted(ids) == sorted(f"ev{n}" for n in range(40))
