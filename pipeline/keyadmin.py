"""``tusd-py keys``: list, rotate and retire key-encryption keys. Media is never touched.

``rotate`` rewraps every asset's data key under the active KEK: one read, unwrap, wrap and
compare-and-set per record, so it is safe beside running servers and workers, and rerunning
an interrupted rotation simply finishes it. With the local key file it first puts a new key
in place (the old one moves to ``previous/``); with ``--rewrap`` (keys from the environment or
KMS) the operator has already configured the new active KEK and the old ones as previous.

``retire <kid>`` refuses while the KEK is active or any asset still uses it; for a key file
under ``previous/`` it then deletes the file. Servers reload their ring when they meet a KEK
they do not know, and workers reload it before each publish, so nothing needs a restart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from .crypto.keyring import new_local_key, open_ring, retire_local_key
from .crypto.keys import KeyRing, WrappedKey, rewrap
from .crypto.settings import CryptoSettings
from .protect import asset_context
from .records import FileMediaRecords, MediaRecords, RedisMediaRecords

log = structlog.get_logger("pipeline.keyadmin")


class KeyAdminError(Exception):
    """The command was refused; the message says why and what to do."""


@dataclass
class RotationReport:
    active: str
    previous_active: str = ""
    rewrapped: int = 0
    unchanged: int = 0
    usage: Counter[str] = field(default_factory=Counter)


@asynccontextmanager
async def open_records(*, redis_url: str, data_dir: str) -> AsyncIterator[MediaRecords]:
    """The media records the server and the workers use: Redis with TUSD_REDIS_URL, else files."""
    if not redis_url:
        yield FileMediaRecords(data_dir)
        return
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        yield RedisMediaRecords(redis)
    finally:
        await redis.aclose()


async def rewrap_record(records: MediaRecords, ring: KeyRing, upload_id: str, *, tries: int = 20) -> bool | None:
    """Rewrap one asset's data key under the ring's active KEK. True if rewrapped, False if it
    already was, None if the record has no data key (not ready, or published before encryption)."""
    active = ring.get(ring.key_id)
    for _ in range(tries):
        record = await records.get(upload_id)
        if record is None or not record.data_key:
            return None
        wrapped = WrappedKey.from_json(record.data_key)
        if wrapped.kek_id == active.key_id:
            return False
        fresh = await rewrap(wrapped, ring, active, asset_context(upload_id))
        if await records.compare_and_set(record.evolve(data_key=fresh.to_json()), record.version) is not None:
            return True
    raise KeyAdminError(f"the record of {upload_id} keeps changing; run `keys rotate --rewrap` again")


async def usage(records: MediaRecords) -> Counter[str]:
    """How many assets each KEK wraps."""
    counts: Counter[str] = Counter()
    async for upload_id in records.list_ids():
        record = await records.get(upload_id)
        if record is not None and record.data_key:
            counts[WrappedKey.from_json(record.data_key).kek_id] += 1
    return counts


async def rotate(crypto: CryptoSettings, records: MediaRecords, *, new_key: bool) -> RotationReport:
    previous = ""
    if new_key:
        previous, _ = new_local_key(crypto)
    async with open_ring(crypto) as ring:
        report = RotationReport(active=ring.key_id, previous_active=previous)
        async for upload_id in records.list_ids():
            done = await rewrap_record(records, ring, upload_id)
            if done:
                report.rewrapped += 1
            elif done is False:
                report.unchanged += 1
        report.usage = await usage(records)
    log.info("keys_rotated", active=report.active, rewrapped=report.rewrapped, unchanged=report.unchanged)
    return report


async def retire(crypto: CryptoSettings, records: MediaRecords, kek_id: str) -> str:
    """Retire ``kek_id``; returns what was done. KeyAdminError if it is still needed."""
    async with open_ring(crypto) as ring:
        if kek_id == ring.key_id:
            raise KeyAdminError(f"{kek_id} is the active KEK: run `tusd-py keys rotate` first")
    in_use = (await usage(records)).get(kek_id, 0)
    if in_use:
        raise KeyAdminError(f"{kek_id} still wraps {in_use} asset data key(s): run `tusd-py keys rotate` first")
    if retire_local_key(crypto, kek_id):
        log.info("key_retired", kek_id=kek_id)
        return f"retired {kek_id}: deleted {crypto.previous_dir / (kek_id + '.key')}"
    return (
        f"{kek_id} wraps no asset. It is not a key file here: remove it from TUSD_PREVIOUS_MASTER_KEYS or "
        "TUSD_KMS_PREVIOUS_KEY_IDS (and schedule a KMS key for deletion in KMS)"
    )


async def describe(crypto: CryptoSettings, records: MediaRecords) -> list[str]:
    """One line per KEK: its id, whether it is active, and how many assets it wraps."""
    async with open_ring(crypto) as ring:
        counts = await usage(records)
        lines = [
            f"{kid}\t{'active' if kid == ring.key_id else 'previous'}\t{counts.pop(kid, 0)} assets"
            for kid in ring.key_ids
        ]
    lines += [
        f"{kid}\tMISSING\t{count} assets (not in the key ring: these cannot be decrypted)"
        for kid, count in counts.items()
    ]
    return lines
