"""Upload records: the authoritative offset, committed parts, tail size, state and expiry.

``UploadRecords`` is the narrow port the S3 store needs (tus-node's ``KvStore``). Every write
that touches more than one field is atomic (a Lua script or MULTI), so a crash can never leave
the offset and the parts list disagreeing. Updates of a record that no longer exists (flushed,
terminated) do nothing and return False, so a late write never resurrects half a record.

``RedisUploadRecords`` shares state between instances (keys in ``keyspace.py``);
``MemoryUploadRecords`` (``memory_records.py``) is the in-process variant used when
TUSD_REDIS_URL is empty.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..protocol.errors import StorageUnavailable
from ..protocol.info import UploadInfo, UploadState
from . import keyspace


@dataclass(frozen=True)
class PartRecord:
    number: int
    size: int
    etag: str


@dataclass
class UploadRecord:
    info: UploadInfo  # offset, size, state and expires_at are authoritative here
    multipart_id: str = ""
    part_size: int = 0  # 0: grows with the offset (deferred length)
    parts: int = 0  # committed parts, numbered 1..parts
    tail: int = 0  # bytes after the committed parts, held in the store's tail object

    @property
    def parts_end(self) -> int:
        """Bytes held by committed parts (where the tail starts)."""
        return self.info.offset - self.tail


class UploadRecords(Protocol):
    async def put(self, record: UploadRecord, parts: list[PartRecord]) -> None:
        """Create or replace a record with its parts list (creation, rebuild from S3)."""

    async def get(self, upload_id: str) -> UploadRecord | None: ...

    async def parts(self, upload_id: str) -> list[PartRecord]: ...

    async def commit(
        self, upload_id: str, *, expect: int, keep: int, add: list[PartRecord], tail: int, offset: int
    ) -> bool:
        """If the record holds exactly ``expect`` parts: keep the first ``keep``, append ``add``, set
        tail and offset, in one atomic step. False (nothing written) if the record is missing or
        was replaced meanwhile (a rebuild after a flush): the caller's view is stale."""

    async def set_size(self, upload_id: str, size: int) -> bool: ...

    async def set_state(self, upload_id: str, state: UploadState) -> bool:
        """Completed states drop the parts list (the object is assembled) and end the expiry."""

    async def set_expiry(self, upload_id: str, expires_at: float | None) -> bool: ...

    async def set_discarded(self, upload_id: str, discarded: bool) -> bool:
        """The upload's plaintext object is dropped (``UploadInfo.discarded``)."""

    async def forget(self, upload_id: str) -> None:
        """Leave the sweeper's list (handed off, or a completed partial); the record stays."""

    async def delete(self, upload_id: str, *, tombstone_ttl: float, owner: str) -> None:
        """Remove the record and leave a tombstone (410 to ``owner``, the upload's) for
        ``tombstone_ttl`` seconds."""

    async def tombstone_owner(self, upload_id: str) -> str | None:
        """The owner the upload's tombstone records ("" for none), None when there is no tombstone."""

    def list_ids(self) -> AsyncIterator[str]: ...

    async def purge_tombstones(self, older_than: float) -> int: ...


# -- Redis ------------------------------------------------------------------------------------
_COMMIT = """
if tonumber(redis.call('HGET', KEYS[1], 'nparts')) ~= tonumber(ARGV[5]) then return 0 end
local keep = tonumber(ARGV[1])
if keep == 0 then redis.call('DEL', KEYS[2]) else redis.call('LTRIM', KEYS[2], 0, keep - 1) end
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('HSET', KEYS[1], 'offset', ARGV[2], 'tail', ARGV[3], 'nparts', ARGV[4])
return 1
"""
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then redis.call('DEL', KEYS[2]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Redis unreachable or silent is the server's 503 (``StorageUnavailable``), translated at the
    call: the store above sees only the server's errors."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StorageUnavailable(f"the upload records (Redis) are unavailable: {exc}") from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _tombstone(value: Any) -> tuple[float | None, str]:
    """A tombstone's value, ``"<time> <owner>"``: when it was written (None if unreadable) and
    the upload's owner ("" in one written before owners were recorded, a bare time)."""
    written, _, owner = _text(value).partition(" ")
    try:
        return float(written), owner
    except ValueError:
        return None, owner


def _encode(record: UploadRecord) -> dict[str, str]:
    info = record.info
    return {
        "info": json.dumps(info.to_dict()),
        "offset": str(info.offset),
        "size": "" if info.size is None else str(info.size),
        "state": str(info.state),
        "expires_at": "" if info.expires_at is None else repr(info.expires_at),
        "multipart_id": record.multipart_id,
        "part_size": str(record.part_size),
        "nparts": str(record.parts),
        "tail": str(record.tail),
    }


def _decode(raw: dict[str, str]) -> UploadRecord:
    info = UploadInfo.from_dict(json.loads(raw["info"]))
    info.offset = int(raw["offset"])
    info.size = int(raw["size"]) if raw["size"] else None
    info.state = UploadState(raw["state"])
    info.expires_at = float(raw["expires_at"]) if raw["expires_at"] else None
    info.discarded = info.discarded or raw.get("discarded") == "1"
    return UploadRecord(info, raw["multipart_id"], int(raw["part_size"]), int(raw["nparts"]), int(raw["tail"]))


def _part_json(part: PartRecord) -> str:
    return json.dumps([part.number, part.size, part.etag])


class RedisUploadRecords:
    def __init__(self, redis: Any) -> None:
        self.redis = redis  # redis.asyncio.Redis (arq's ArqRedis is one)
        self._commit = redis.register_script(_COMMIT)
        self._update = redis.register_script(_UPDATE)

    async def put(self, record: UploadRecord, parts: list[PartRecord]) -> None:
        uid = record.info.id
        with _unavailable():
            async with self.redis.pipeline(transaction=True) as tx:
                tx.delete(keyspace.upload_key(uid), keyspace.parts_key(uid))
                tx.hset(keyspace.upload_key(uid), mapping=_encode(record))
                if parts:
                    tx.rpush(keyspace.parts_key(uid), *map(_part_json, parts))
                if not record.info.state.finished or (
                    record.info.state is UploadState.COMPLETED and not record.info.is_partial
                ):
                    tx.zadd(keyspace.LIVE_UPLOADS, {uid: record.info.created_at})
                await tx.execute()

    async def get(self, upload_id: str) -> UploadRecord | None:
        with _unavailable():
            raw = await self.redis.hgetall(keyspace.upload_key(upload_id))
        if not raw:
            return None
        return _decode({_text(k): _text(v) for k, v in raw.items()})

    async def parts(self, upload_id: str) -> list[PartRecord]:
        with _unavailable():
            items = await self.redis.lrange(keyspace.parts_key(upload_id), 0, -1)
        return [PartRecord(*json.loads(_text(item))) for item in items]

    async def commit(
        self, upload_id: str, *, expect: int, keep: int, add: list[PartRecord], tail: int, offset: int
    ) -> bool:
        keys = [keyspace.upload_key(upload_id), keyspace.parts_key(upload_id)]
        args = [keep, offset, tail, keep + len(add), expect, *map(_part_json, add)]
        with _unavailable():
            return bool(await self._commit(keys=keys, args=args))

    async def _set(self, upload_id: str, *fields: str, drop_parts: bool = False) -> bool:
        """HSET field, value, ... on an existing record, in one step."""
        keys = [keyspace.upload_key(upload_id), keyspace.parts_key(upload_id)]
        with _unavailable():
            return bool(await self._update(keys=keys, args=["1" if drop_parts else "0", *fields]))

    async def set_size(self, upload_id: str, size: int) -> bool:
        return await self._set(upload_id, "size", str(size))

    async def set_state(self, upload_id: str, state: UploadState) -> bool:
        if state.finished:  # finished files do not expire: one write for both
            return await self._set(upload_id, "state", str(state), "expires_at", "", drop_parts=True)
        return await self._set(upload_id, "state", str(state))

    async def set_expiry(self, upload_id: str, expires_at: float | None) -> bool:
        return await self._set(upload_id, "expires_at", "" if expires_at is None else repr(expires_at))

    async def set_discarded(self, upload_id: str, discarded: bool) -> bool:
        return await self._set(upload_id, "discarded", "1" if discarded else "")

    async def forget(self, upload_id: str) -> None:
        with _unavailable():
            await self.redis.zrem(keyspace.LIVE_UPLOADS, upload_id)

    async def delete(self, upload_id: str, *, tombstone_ttl: float, owner: str) -> None:
        with _unavailable():
            async with self.redis.pipeline(transaction=True) as tx:
                tx.delete(keyspace.upload_key(upload_id), keyspace.parts_key(upload_id))
                tx.zrem(keyspace.LIVE_UPLOADS, upload_id)
                if tombstone_ttl > 0:
                    ttl_ms = max(1, int(tombstone_ttl * 1000))
                    tx.set(keyspace.tombstone_key(upload_id), f"{time.time()!r} {owner}", px=ttl_ms)
                await tx.execute()

    async def tombstone_owner(self, upload_id: str) -> str | None:
        with _unavailable():
            written = await self.redis.get(keyspace.tombstone_key(upload_id))
        return None if written is None else _tombstone(written)[1]

    async def list_ids(self) -> AsyncIterator[str]:
        with _unavailable():
            async for member, _ in self.redis.zscan_iter(keyspace.LIVE_UPLOADS):
                yield _text(member)

    async def purge_tombstones(self, older_than: float) -> int:
        """Tombstones also expire by their TTL; this forgets older ones now (a shorter retention)."""
        purged = 0
        async for key in self.redis.scan_iter(match=keyspace.tombstone_key("*"), count=500):
            written = await self.redis.get(key)
            at = _tombstone(written)[0] if written is not None else None
            # an unreadable tombstone is not ours to keep: it only ever gives a 410
            if written is not None and (at is None or at < older_than):
                purged += await self.redis.delete(key)
        return purged


if TYPE_CHECKING:
    _redis: type[UploadRecords] = RedisUploadRecords
