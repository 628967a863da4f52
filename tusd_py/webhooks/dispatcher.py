"""The dispatcher: sends the outbox's due deliveries, in the background tasks of every API instance.

Each round takes the due rows (oldest first), claims each one (``Outbox.claim``: of several
instances, one wins each row) and POSTs them concurrently. A 2xx answer removes the row; anything
else (another status, a refused connection, a timeout) counts as a failed attempt and the row
waits ``TUSD_WEBHOOK_BACKOFF`` doubled per attempt, capped at ``TUSD_WEBHOOK_BACKOFF_MAX``; after
``TUSD_WEBHOOK_MAX_ATTEMPTS`` failed attempts it is dropped and logged (``webhook_gave_up``).
Redirects are not followed: a receiver that moved is a failure the operator should see.

A round runs every ``TUSD_WEBHOOK_POLL_INTERVAL`` seconds, and at once when this process
recorded an event (``notify``); rows recorded by the worker or another instance wait for the
next poll.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aiohttp
import structlog

from ..protocol.errors import StorageUnavailable
from . import signing
from .outbox import Delivery, Outbox
from .settings import WebhookSettings

log = structlog.get_logger("tusd_py.webhooks")

BATCH = 32  # deliveries claimed per round, sent concurrently
LEASE_MARGIN = 30.0  # seconds a claim outlives the send's timeout: a sender that died frees the row then
ERROR_BODY = 200  # characters of a refusing receiver's answer kept in last_error


class Dispatcher:
    """``on_attempt`` hears how each attempt ended: ``delivered``, ``failed`` or ``gave_up`` (metrics)."""

    def __init__(
        self, outbox: Outbox, settings: WebhookSettings, on_attempt: Callable[[str], None] | None = None
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.on_attempt = on_attempt or (lambda outcome: None)
        self.wake = asyncio.Event()

    def notify(self) -> None:
        """This process recorded a delivery: send it now rather than at the next poll."""
        self.wake.set()

    async def run_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout)
        connector = aiohttp.TCPConnector(limit=BATCH)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while True:
                self.wake.clear()
                try:
                    sent = await self.run_once(session)
                except StorageUnavailable as exc:  # the database is down: the rows wait in it
                    log.warning("webhook_outbox_unavailable", error=str(exc))
                    sent = 0
                except Exception:
                    log.exception("webhook_round_failed")
                    sent = 0
                if sent < BATCH:  # a full batch: more may be due at once
                    try:
                        await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll_interval)
                    except TimeoutError:
                        pass

    async def run_once(self, session: aiohttp.ClientSession) -> int:
        """One round; returns how many deliveries this instance claimed."""
        now = time.time()
        lease = now + self.settings.webhook_timeout + LEASE_MARGIN
        claimed = [d for d in await self.outbox.due(now, BATCH) if await self.outbox.claim(d, lease)]
        if claimed:
            await asyncio.gather(*(self.deliver(session, d) for d in claimed))
        return len(claimed)

    async def deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        body = delivery.body.encode()
        headers = signing.headers(self.settings.webhook_secret, delivery.event, _event_id(delivery), body, time.time())
        bound = log.bind(delivery=delivery.id, webhook_event=delivery.event, url=delivery.url)
        error = ""
        try:
            async with session.post(delivery.url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    await self.outbox.delivered(delivery.id)
                    self.on_attempt("delivered")
                    bound.info("webhook_delivered", status=response.status, attempts=delivery.attempts + 1)
                    return
                text = (await response.content.read(ERROR_BODY)).decode("utf-8", "replace")
                error = f"HTTP {response.status}: {text}".strip()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = delivery.attempts + 1
        if attempts >= self.settings.webhook_max_attempts:
            await self.outbox.drop(delivery.id)
            self.on_attempt("gave_up")
            bound.error("webhook_gave_up", attempts=attempts, error=error)
            return
        delay = self.settings.backoff(attempts)
        await self.outbox.failed(delivery.id, attempts, time.time() + delay, error)
        self.on_attempt("failed")
        bound.warning("webhook_failed", attempts=attempts, retry_in=delay, error=error)


def _event_id(delivery: Delivery) -> str:
    """The event's id, as its body says (the same for every URL and attempt)."""
    try:
        value = json.loads(delivery.body).get("id", "")
    except (ValueError, AttributeError):
        value = ""
    return str(value) or delivery.id
