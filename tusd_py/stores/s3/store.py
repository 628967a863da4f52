"""S3Store: uploads as S3 multipart uploads, with records in Redis (or in-process).

The S3 objects and Redis keys, and their lifecycle, are listed in the package docstring
(``tusd_py/stores/s3/__init__.py``). This module holds the store-wide operations: opening the
client, creating and finding uploads (rebuilding a lost record from S3), concatenation, and
the small helpers for the side objects; ``upload.py`` holds the per-upload operations.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import structlog

from ...core.ports import Upload
from ...protocol.errors import TusError, UploadGone, UploadNotFound
from ...protocol.info import UploadInfo, UploadState
from ...settings import Settings
from ...state.records import MemoryUploadRecords, PartRecord, RedisUploadRecords, UploadRecord, UploadRecords
from .client import S3Client, map_s3_errors, open_client
from .parts import PartBuffer, PartPolicy, PartStream
from .upload import S3Upload

log = structlog.get_logger("tusd_py.s3store")

_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # always fullmatch: `$` would let "id\n" through
TAIL_START = "tus-start"  # tail object metadata: the offset of its first byte
TAIL_PARTS = "tus-parts"  # ... and how many parts were committed when it was written


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = ""
    policy: PartPolicy = field(default_factory=PartPolicy)
    parts_in_flight: int = 4  # per upload
    parts_in_flight_total: int = 16  # per process
    tombstone_ttl: float = 7 * 86400.0
    expiry_seconds: float = 0.0  # a rebuilt unfinished upload gets this much time again
    retry_delays: tuple[float, ...] = (0.2, 1.0, 3.0)  # UploadPart retries, seconds


@dataclass(frozen=True)
class Checkpoint:
    """The tail object as read back: where it starts, the part count then, and its size."""

    start: int
    parts: int
    size: int


class S3Store:
    name = "s3"

    def __init__(
        self,
        config: S3Config,
        records: UploadRecords,
        client: S3Client | None = None,
        *,
        connect: Callable[[], AbstractAsyncContextManager[S3Client]] | None = None,
    ) -> None:
        self.config = config
        self.records = records
        self.max_upload_size = config.policy.max_upload_size
        self.slots = asyncio.Semaphore(config.parts_in_flight_total)  # process-wide parts in flight
        self._client, self._connect = client, connect
        self._stack = AsyncExitStack()

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: Any | None = None) -> S3Store:
        if not settings.storage.s3_bucket:
            raise ValueError("TUSD_S3_BUCKET is required with TUSD_STORE=s3")
        policy = PartPolicy(
            preferred=settings.storage.s3_part_size,
            min_size=settings.storage.s3_min_part_size,
            max_parts=settings.storage.s3_max_parts,
            uniform=settings.storage.s3_uniform_parts,
            deferred_limit=settings.server.max_size,
        )
        config = S3Config(
            bucket=settings.storage.s3_bucket,
            prefix=settings.storage.s3_prefix,
            policy=policy,
            parts_in_flight=settings.storage.s3_parts_in_flight,
            parts_in_flight_total=settings.storage.s3_parts_in_flight_total,
            tombstone_ttl=settings.server.tombstone_ttl,
            expiry_seconds=settings.server.upload_expiry,
        )
        records: UploadRecords = RedisUploadRecords(redis) if redis is not None else MemoryUploadRecords()
        connect = functools.partial(
            open_client,
            endpoint_url=settings.storage.s3_endpoint_url,
            region=settings.storage.s3_region,
            path_style=settings.storage.s3_path_style,
            max_connections=settings.storage.s3_parts_in_flight_total + 16,
        )
        return cls(config, records, connect=connect)

    async def start(self) -> None:
        if self._client is None and self._connect is not None:
            self._client = await self._stack.enter_async_context(self._connect())

    async def close(self) -> None:
        if self._connect is not None:
            self._client = None
        await self._stack.aclose()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3Store.start() must run before the store is used")
        return self._client

    def key(self, upload_id: str, suffix: str = "") -> str:
        return f"{self.config.prefix}{upload_id}{suffix}"

    # -- side objects ------------------------------------------------------------------------
    async def put_info(self, record: UploadRecord) -> None:
        """``<id>.info``: everything needed to rebuild the upload from S3 alone."""
        doc = {"info": record.info.to_dict(), "multipart_id": record.multipart_id, "part_size": record.part_size}
        async with map_s3_errors("PutObject"):
            await self.client.put_object(
                Bucket=self.config.bucket,
                Key=self.key(record.info.id, ".info"),
                Body=json.dumps(doc).encode(),
                ContentType="application/json",
            )

    async def put_tail(self, upload_id: str, data: PartBuffer | bytes, *, start: int, parts: int) -> None:
        """``<id>.part``: the bytes after the committed parts, and the checkpoint of the part count."""
        async with map_s3_errors("PutObject"):
            await self.client.put_object(
                Bucket=self.config.bucket,
                Key=self.key(upload_id, ".part"),
                Body=PartStream(data) if data else b"",
                Metadata={TAIL_START: str(start), TAIL_PARTS: str(parts)},
            )

    async def head_tail(self, upload_id: str) -> Checkpoint | None:
        try:
            async with map_s3_errors("HeadObject"):
                head = await self.client.head_object(Bucket=self.config.bucket, Key=self.key(upload_id, ".part"))
        except UploadNotFound:
            return None
        meta = head.get("Metadata", {})
        try:
            return Checkpoint(int(meta[TAIL_START]), int(meta[TAIL_PARTS]), int(head["ContentLength"]))
        except (KeyError, ValueError):
            return None

    async def read_tail(self, record: UploadRecord) -> bytes:
        """The record's tail bytes; a tail object that does not match the record is an error."""
        uid = record.info.id
        async with map_s3_errors("GetObject", missing=None):
            resp = await self.client.get_object(
                Bucket=self.config.bucket, Key=self.key(uid, ".part"), Range=f"bytes=0-{record.tail - 1}"
            )
            async with resp["Body"] as stream:
                data: bytes = await stream.read()
        meta = resp.get("Metadata", {})
        if meta.get(TAIL_START) != str(record.parts_end) or meta.get(TAIL_PARTS) != str(record.parts):
            raise TusError(f"the tail object of {uid} does not match its record")
        if len(data) != record.tail:
            raise TusError(f"the tail object of {uid} holds {len(data)} bytes, expected {record.tail}")
        return data

    async def object_size(self, key: str) -> int | None:
        try:
            async with map_s3_errors("HeadObject"):
                head = await self.client.head_object(Bucket=self.config.bucket, Key=key)
        except UploadNotFound:
            return None
        return int(head["ContentLength"])

    async def list_parts(self, upload_id: str, multipart_id: str) -> list[PartRecord] | None:
        """Every part S3 holds (paginated); None if the multipart upload no longer exists."""
        parts: list[PartRecord] = []
        marker = 0
        while True:
            try:
                async with map_s3_errors("ListParts"):
                    page = await self.client.list_parts(
                        Bucket=self.config.bucket,
                        Key=self.key(upload_id),
                        UploadId=multipart_id,
                        PartNumberMarker=marker,
                    )
            except UploadNotFound:
                return None
            parts += [PartRecord(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"])) for p in page.get("Parts", [])]
            if not page.get("IsTruncated"):
                return sorted(parts, key=lambda p: p.number)
            marker = int(page["NextPartNumberMarker"])

    # -- finding uploads ---------------------------------------------------------------------
    async def load(self, upload_id: str) -> UploadRecord:
        """The record from Redis; rebuilt from S3 when Redis lost it (never from a tombstone)."""
        if not _ID.fullmatch(upload_id):
            raise UploadNotFound(f"upload {upload_id} does not exist")
        record = await self.records.get(upload_id)
        if record is not None:
            return record
        if await self.records.is_gone(upload_id):
            raise UploadGone("the upload was terminated or has expired")
        record, parts = await self._rebuild(upload_id)
        await self.records.put(record, parts)
        log.info("s3_record_rebuilt", upload_id=upload_id, offset=record.info.offset, parts=record.parts)
        return record

    async def _rebuild(self, upload_id: str) -> tuple[UploadRecord, list[PartRecord]]:
        async with map_s3_errors("GetObject", missing=lambda _: UploadNotFound(f"upload {upload_id} does not exist")):
            resp = await self.client.get_object(Bucket=self.config.bucket, Key=self.key(upload_id, ".info"))
            async with resp["Body"] as stream:
                doc = json.loads(await stream.read())
        info = UploadInfo.from_dict(doc["info"])
        record = UploadRecord(info, str(doc.get("multipart_id", "")), int(doc.get("part_size", 0)))
        stored = await self.list_parts(upload_id, record.multipart_id) if record.multipart_id else None
        if stored is None:  # no multipart upload (any more): the object is complete, or never was
            final = await self.object_size(self.key(upload_id))
            if final is not None and final == info.size:
                info.offset, info.expires_at = final, None
                info.state = info.state if info.state.finished else UploadState.COMPLETED
                return record, []
            if final is None and info.state is UploadState.HANDED_OFF and info.size is not None:
                # .info is rewritten at hand-off, after the object's size was checked: every byte
                # arrived. Processing may since have released the plaintext object (an encrypted
                # original replaces it), so the upload stays complete rather than "lost".
                info.offset, info.expires_at = info.size, None
                return record, []
            if record.multipart_id or info.size != 0:
                raise UploadNotFound(f"upload {upload_id} has lost its data")
            stored = []
        # Only parts covered by the last checkpoint are certain to be this upload's bytes in
        # order: a part number above it may hold bytes of an interrupted request.
        checkpoint = await self.head_tail(upload_id)
        trusted = checkpoint.parts if checkpoint else 0
        parts = [p for i, p in enumerate(stored[:trusted], start=1) if p.number == i]
        end = sum(p.size for p in parts)
        tail = checkpoint.size if checkpoint and len(parts) == trusted and checkpoint.start == end else 0
        record.parts, record.tail = len(parts), tail
        info.offset, info.state = end + tail, UploadState.RECEIVING
        if info.expires_at is not None and self.config.expiry_seconds > 0:
            info.expires_at = max(info.expires_at, time.time() + self.config.expiry_seconds)
        return record, parts

    async def create_upload(self, info: UploadInfo) -> S3Upload:
        key = self.key(info.id)
        info.storage = {"type": "s3", "bucket": self.config.bucket, "key": key}
        record = UploadRecord(info, part_size=self.config.policy.part_size(info.size))
        if info.size != 0:  # a zero-length upload becomes an empty PutObject at finish
            content_type = info.meta().text("filetype") or ""
            plain = re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type, re.ASCII)  # an HTTP header at S3
            extra = {"ContentType": content_type} if plain else {}
            async with map_s3_errors("CreateMultipartUpload"):
                created = await self.client.create_multipart_upload(Bucket=self.config.bucket, Key=key, **extra)
            record.multipart_id = str(created["UploadId"])
        await self.put_info(record)
        await self.records.put(record, [])
        return S3Upload(self, info.id)

    async def get_upload(self, upload_id: str) -> S3Upload:
        await self.load(upload_id)
        return S3Upload(self, upload_id)

    # -- concatenation -----------------------------------------------------------------------
    async def concat(self, final: Upload, partials: list[Upload]) -> None:
        assert isinstance(final, S3Upload)
        sources: list[tuple[S3Upload, int]] = []
        for partial in partials:
            assert isinstance(partial, S3Upload)
            await partial.finish()  # idempotent: makes sure the partial's object exists
            size = (await partial.get_info()).size or 0
            if size:  # an empty partial adds nothing (and S3 cannot copy an empty range)
                sources.append((partial, size))
        if not sources:
            return
        policy = self.config.policy
        pieces = [math.ceil(size / policy.max_size) for _, size in sources]
        if all(size >= policy.min_size for _, size in sources[:-1]) and sum(pieces) <= policy.max_parts:
            record = await self.load(final.id)
            await self._copy_parts(record, [(self.key(p.id), size) for p, size in sources], pieces)
        else:  # a partial below the minimum part size: S3 cannot take it as a copied part
            await final.write_chunk(0, _concat_body(sources))

    async def _copy_parts(self, record: UploadRecord, sources: list[tuple[str, int]], pieces: list[int]) -> None:
        jobs: list[tuple[int, str, int, int, bool]] = []  # part number, source key, range, split?
        for (key, size), count in zip(sources, pieces, strict=True):
            step = math.ceil(size / count)  # split above 5 GiB into near-equal ranges
            for first in range(0, size, step):
                jobs.append((len(jobs) + 1, key, first, min(size, first + step), count > 1))
        gate = asyncio.Semaphore(self.config.parts_in_flight)

        async def copy(number: int, key: str, first: int, end: int, split: bool) -> PartRecord:
            extra = {"CopySourceRange": f"bytes={first}-{end - 1}"} if split else {}
            async with gate, self.slots, map_s3_errors("UploadPartCopy"):
                resp = await self.client.upload_part_copy(
                    Bucket=self.config.bucket,
                    Key=self.key(record.info.id),
                    UploadId=record.multipart_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.config.bucket, "Key": key},
                    **extra,
                )
            return PartRecord(number, end - first, str(resp["CopyPartResult"]["ETag"]))

        parts = list(await asyncio.gather(*(copy(*job) for job in jobs)))
        total = sum(p.size for p in parts)
        await self.put_tail(record.info.id, b"", start=total, parts=len(parts))
        await self.records.commit(record.info.id, expect=0, keep=0, add=parts, tail=0, offset=total)

    # -- capabilities: every one of ports.py; an upload passed in is one of this store's ------
    def as_terminatable_upload(self, upload: Upload) -> S3Upload:
        return cast(S3Upload, upload)

    as_length_declarable_upload = as_expiring_upload = as_readable_upload = as_terminatable_upload
    as_discardable_upload = as_terminatable_upload

    # -- sweeping ----------------------------------------------------------------------------
    async def list_upload_ids(self) -> AsyncIterator[str]:
        seen = 0
        async for upload_id in self.records.list_ids():
            seen += 1
            yield upload_id
        if seen:
            return
        # No records at all (Redis flushed or a fresh process): find uploads by their info objects.
        token: dict[str, str] = {}
        while True:
            async with map_s3_errors("ListObjectsV2"):
                page = await self.client.list_objects_v2(Bucket=self.config.bucket, Prefix=self.config.prefix, **token)
            for obj in page.get("Contents", []):
                name = str(obj["Key"])[len(self.config.prefix) :]
                if name.endswith(".info") and _ID.fullmatch(name[: -len(".info")]):
                    yield name[: -len(".info")]
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": str(page["NextContinuationToken"])}

    async def purge_tombstones(self, older_than: float) -> int:
        return await self.records.purge_tombstones(older_than)


async def _concat_body(sources: list[tuple[S3Upload, int]]) -> AsyncIterator[bytes]:
    """The partials' bytes in order, as a request body for the normal part pipeline."""
    for partial, size in sources:
        async for chunk in partial.read(0, size):
            yield chunk


if TYPE_CHECKING:
    from ...core import ports

    _: type[ports.Store] = S3Store
    _t: type[ports.Terminater] = S3Store
    _c: type[ports.Concater] = S3Store
    _d: type[ports.LengthDeferrer] = S3Store
    _e: type[ports.Expirer] = S3Store
    _r: type[ports.RangeReader] = S3Store
    _p: type[ports.PlaintextDiscarder] = S3Store
    _l: type[ports.UploadLister] = S3Store
