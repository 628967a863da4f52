"""S3Store: uploads as S3 multipart uploads, with records in Redis (or in-process).

The S3 objects and Redis keys, and their lifecycle, are listed in the package docstring
(``tusd_py/stores/s3/__init__.py``). This module holds the store-wide operations: opening the
client, creating and finding uploads, concatenation and the sweeper's listing. What the store
shares with its uploads is one ``S3Bucket`` (bucket.py); finding a record, or rebuilding a lost
one from S3, is in recovery.py; the per-upload operations are in upload.py.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, cast

from ...core.ports import Upload
from ...protocol.info import UploadInfo
from ...settings import Settings
from ...state.memory_records import MemoryUploadRecords
from ...state.records import PartRecord, RedisUploadRecords, UploadRecord, UploadRecords
from .bucket import S3Bucket, S3Config
from .client import S3Client, map_s3_errors, open_client, time_calls
from .parts import PartPolicy
from .recovery import UPLOAD_ID, load
from .upload import S3Upload

__all__ = ["S3Config", "S3Store"]


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
        self.bucket = S3Bucket(config, records)
        self.bucket.opened = client
        self._connect = connect
        self._stack = AsyncExitStack()
        self._timer: Callable[[str, float], None] | None = None

    def time_calls(self, record: Callable[[str, float], None]) -> None:
        """Report each S3 call's duration by operation (metrics), from ``start()`` on."""
        self._timer = record

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
        if self.bucket.opened is None and self._connect is not None:
            self.bucket.opened = await self._stack.enter_async_context(self._connect())
        if self._timer is not None and self.bucket.opened is not None:
            time_calls(self.bucket.opened, self._timer)

    async def close(self) -> None:
        if self._connect is not None:
            self.bucket.opened = None
        await self._stack.aclose()

    @property
    def client(self) -> S3Client:
        return self.bucket.client

    async def ready(self) -> None:
        """Readiness (web/health.py): HeadBucket answers, a read that writes nothing."""
        async with map_s3_errors("HeadBucket"):
            await self.client.head_bucket(Bucket=self.bucket.name)

    async def load(self, upload_id: str) -> UploadRecord:
        """The upload's record (recovery.load)."""
        return await load(self.bucket, upload_id)

    # -- creating and finding uploads --------------------------------------------------------
    async def create_upload(self, info: UploadInfo) -> S3Upload:
        bucket = self.bucket
        key = bucket.key(info.id)
        info.storage = {"type": "s3", "bucket": bucket.name, "key": key}
        record = UploadRecord(info, part_size=bucket.policy.part_size(info.size))
        if info.size != 0:  # a zero-length upload becomes an empty PutObject at finish
            content_type = info.meta().text("filetype") or ""
            plain = re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type, re.ASCII)  # an HTTP header at S3
            extra = {"ContentType": content_type} if plain else {}
            async with map_s3_errors("CreateMultipartUpload"):
                created = await bucket.client.create_multipart_upload(Bucket=bucket.name, Key=key, **extra)
            record.multipart_id = str(created["UploadId"])
        await bucket.put_info(record)
        await self.records.put(record, [])
        return S3Upload(bucket, info.id)

    async def get_upload(self, upload_id: str) -> S3Upload:
        await load(self.bucket, upload_id)
        return S3Upload(self.bucket, upload_id)

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
        policy = self.bucket.policy
        pieces = [math.ceil(size / policy.max_size) for _, size in sources]
        if all(size >= policy.min_size for _, size in sources[:-1]) and sum(pieces) <= policy.max_parts:
            record = await load(self.bucket, final.id)
            await self._copy_parts(record, [(p.key, size) for p, size in sources], pieces)
        else:  # a partial below the minimum part size: S3 cannot take it as a copied part
            await final.write_chunk(0, _concat_body(sources))

    async def _copy_parts(self, record: UploadRecord, sources: list[tuple[str, int]], pieces: list[int]) -> None:
        jobs: list[tuple[int, str, int, int, bool]] = []  # part number, source key, range, split?
        for (key, size), count in zip(sources, pieces, strict=True):
            step = math.ceil(size / count)  # split above 5 GiB into near-equal ranges
            for first in range(0, size, step):
                jobs.append((len(jobs) + 1, key, first, min(size, first + step), count > 1))
        gate, bucket = asyncio.Semaphore(self.config.parts_in_flight), self.bucket

        async def copy(number: int, key: str, first: int, end: int, split: bool) -> PartRecord:
            extra = {"CopySourceRange": f"bytes={first}-{end - 1}"} if split else {}
            async with gate, bucket.slots, map_s3_errors("UploadPartCopy"):
                resp = await bucket.client.upload_part_copy(
                    Bucket=bucket.name,
                    Key=bucket.key(record.info.id),
                    UploadId=record.multipart_id,
                    PartNumber=number,
                    CopySource={"Bucket": bucket.name, "Key": key},
                    **extra,
                )
            return PartRecord(number, end - first, str(resp["CopyPartResult"]["ETag"]))

        parts = list(await asyncio.gather(*(copy(*job) for job in jobs)))
        total = sum(p.size for p in parts)
        await bucket.put_tail(record.info.id, b"", start=total, parts=len(parts))
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
        prefix = self.config.prefix
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket.name, Prefix=prefix)
        async with map_s3_errors("ListObjectsV2"):
            async for page in pages:
                for obj in page.get("Contents", []):
                    name = str(obj["Key"])[len(prefix) :]
                    if name.endswith(".info") and UPLOAD_ID.fullmatch(name[: -len(".info")]):
                        yield name[: -len(".info")]

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
