"""``<id>.state``: the two fields of a file-store upload that change while it lives (its state
and its expiry), kept apart from the JSON info so that a transition is one small write in place.

Replacing the info file (a new file renamed over the old) costs 0.2-0.3 ms of kernel time on
ext4, on the event loop, and a finished upload goes through four transitions; for many small
uploads that was most of the server's time (docs/benchmarks.md).

Crash safety comes from two slots written in turn, each with a sequence number and a CRC32.
A reader takes the valid slot with the higher sequence, so a write torn by a crash (or read
half-done by a concurrent reader) leaves the other slot, the previous state, intact. Falling
back one transition is safe: every transition is idempotent and retried (core/finishing.py),
and an expiry only ever moves later, so the previous one is never later than the truth.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from ..protocol.info import UploadState

_BODY = struct.Struct("<QBBxxd")  # sequence, state code, has expiry, expires_at
_CRC = struct.Struct("<I")
_SLOT = 32
# Codes on disk: append only, never reorder.
_CODES: tuple[UploadState, ...] = (
    UploadState.RECEIVING,
    UploadState.COMPLETING,
    UploadState.COMPLETED,
    UploadState.HANDED_OFF,
)


@dataclass(frozen=True)
class StateRecord:
    sequence: int
    state: UploadState
    expires_at: float | None


def _decode(slot: bytes) -> StateRecord | None:
    if len(slot) < _BODY.size + _CRC.size:
        return None
    body = slot[: _BODY.size]
    if zlib.crc32(body) != _CRC.unpack_from(slot, _BODY.size)[0]:
        return None  # never written, or torn
    sequence, code, has_expiry, expires_at = _BODY.unpack(body)
    if sequence == 0 or code >= len(_CODES):
        return None
    return StateRecord(sequence, _CODES[code], expires_at if has_expiry else None)


def read_state(path: str) -> StateRecord | None:
    """The newest valid record, or None when there is no state file (the info file holds it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        raw = os.pread(fd, 2 * _SLOT, 0)
    finally:
        os.close(fd)
    records = [r for r in (_decode(raw[:_SLOT]), _decode(raw[_SLOT : 2 * _SLOT])) if r is not None]
    return max(records, key=lambda r: r.sequence, default=None)


def write_state(path: str, previous: StateRecord | None, state: UploadState, expires_at: float | None) -> StateRecord:
    """Write the record after ``previous`` into the slot ``previous`` does not occupy."""
    sequence = (previous.sequence if previous else 0) + 1
    body = _BODY.pack(sequence, _CODES.index(state), expires_at is not None, expires_at or 0.0)
    record = body + _CRC.pack(zlib.crc32(body))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, record.ljust(_SLOT, b"\0"), (sequence % 2) * _SLOT)
    finally:
        os.close(fd)
    return StateRecord(sequence, state, expires_at)
