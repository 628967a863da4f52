"""The signature of a webhook delivery: HMAC-SHA256 over ``<timestamp>.<body>``.

Headers of every delivery::

    X-Tusd-Event: media.ready
    X-Tusd-Delivery: <the event's id>
    X-Tusd-Timestamp: <Unix seconds, when this attempt was sent>
    X-Tusd-Signature: sha256=<hex HMAC-SHA256 of the secret over b"<timestamp>." + body>

The timestamp is signed with the body, and taken anew for each attempt, so a receiver that
refuses timestamps older than a few minutes cannot be fed a recorded delivery again later
(``verify``; docs/operations.md has the same check as a receiver would write it).
"""

from __future__ import annotations

import hashlib
import hmac
import time

EVENT_HEADER = "X-Tusd-Event"
DELIVERY_HEADER = "X-Tusd-Delivery"
TIMESTAMP_HEADER = "X-Tusd-Timestamp"
SIGNATURE_HEADER = "X-Tusd-Signature"
SCHEME = "sha256="
REPLAY_WINDOW = 300  # seconds a receiver should accept a timestamp for (either side of its clock)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def headers(secret: str, event: str, delivery: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str, body: bytes, timestamp: str, signed: str, *, window: float = REPLAY_WINDOW, now: float | None = None
) -> bool:
    """A receiver's check: the signature matches and the timestamp is within ``window`` seconds."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    moment = time.time() if now is None else now
    if abs(moment - int(timestamp)) > window:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)
