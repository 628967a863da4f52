"""S3Bucket: what the S3 store and its uploads share, and the S3 objects beside the parts.

The store opens the client and creates uploads; each ``S3Upload`` gets this object, never the
store, so the two modules do not import each other. It holds the client, the bucket and key
naming, the part policy and limits, the upload records, the process-wide part semaphore, and
the calls on the side objects (``<key>.info``, ``<key>.part``, the final object) listed in the
package docstring.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from ...protocol.errors import TusError, UploadNotFound
from ...state.records import PartRecord, UploadRecord, UploadRecords
from .client import S3Client, map_s3_errors
from .parts import PartBuffer, PartPolicy, PartStream

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


@dataclass(frozen=True)
class Checkpoint:
    """The tail object as read back: where it starts, the part count then, and its size."""

    start: int
    parts: int
    size: int


class S3Bucket:
    def __init__(self, config: S3Config, records: UploadRecords) -> None:
        self.config = config
        self.name = config.bucket
        self.policy = config.policy
        self.records = records
        self.slots = asyncio.Semaphore(config.parts_in_flight_total)  # process-wide parts in flight
        self.opened: S3Client | None = None  # set by S3Store.start()

    @property
    def client(self) -> S3Client:
        if self.opened is None:
            raise RuntimeError("S3Store.start() must run before the store is used")
        return self.opened

    def key(self, upload_id: str, suffix: str = "") -> str:
        return f"{self.config.prefix}{upload_id}{suffix}"

    # -- parts -------------------------------------------------------------------------------
    async def upload_part(self, upload_id: str, multipart_id: str, number: int, data: PartBuffer) -> str:
        """One part; the ETag. botocore retries a transient failure (``client.open_client``)."""
        async with map_s3_errors("UploadPart"):
            resp = await self.client.upload_part(
                Bucket=self.name,
                Key=self.key(upload_id),
                UploadId=multipart_id,
                PartNumber=number,
                Body=PartStream(data),
            )
        return str(resp["ETag"])

    async def list_parts(self, upload_id: str, multipart_id: str) -> list[PartRecord] | None:
        """Every part S3 holds; None if the multipart upload no longer exists."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.name, Key=self.key(upload_id), UploadId=multipart_id
        )
        parts: list[PartRecord] = []
        try:
            async with map_s3_errors("ListParts"):
                async for page in pages:
                    parts += [
                        PartRecord(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"])) for p in page.get("Parts", [])
                    ]
        except UploadNotFound:
            return None
        return sorted(parts, key=lambda p: p.number)

    async def abort_multipart(self, record: UploadRecord) -> None:
        if not record.multipart_id:
            return
        try:
            async with map_s3_errors("AbortMultipartUpload"):
                await self.client.abort_multipart_upload(
                    Bucket=self.name, Key=self.key(record.info.id), UploadId=record.multipart_id
                )
        except UploadNotFound:
            pass  # aborted or completed already

    # -- side objects ------------------------------------------------------------------------
    async def put_info(self, record: UploadRecord) -> None:
        """``<id>.info``: everything needed to rebuild the upload from S3 alone."""
        doc = {"info": record.info.to_dict(), "multipart_id": record.multipart_id, "part_size": record.part_size}
        async with map_s3_errors("PutObject"):
            await self.client.put_object(
                Bucket=self.name,
                Key=self.key(record.info.id, ".info"),
                Body=json.dumps(doc).encode(),
                ContentType="application/json",
            )

    async def put_tail(self, upload_id: str, data: PartBuffer | bytes, *, start: int, parts: int) -> None:
        """``<id>.part``: the bytes after the committed parts, and the checkpoint of the part count."""
        async with map_s3_errors("PutObject"):
            await self.client.put_object(
                Bucket=self.name,
                Key=self.key(upload_id, ".part"),
                Body=PartStream(data) if data else b"",
                Metadata={TAIL_START: str(start), TAIL_PARTS: str(parts)},
            )

    async def head_tail(self, upload_id: str) -> Checkpoint | None:
        try:
            async with map_s3_errors("HeadObject"):
                head = await self.client.head_object(Bucket=self.name, Key=self.key(upload_id, ".part"))
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
                Bucket=self.name, Key=self.key(uid, ".part"), Range=f"bytes=0-{record.tail - 1}"
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
                head = await self.client.head_object(Bucket=self.name, Key=key)
        except UploadNotFound:
            return None
        return int(head["ContentLength"])

    async def delete(self, upload_id: str, *suffixes: str) -> None:
        objects = [{"Key": self.key(upload_id, suffix)} for suffix in suffixes]
        async with map_s3_errors("DeleteObjects"):
            await self.client.delete_objects(Bucket=self.name, Delete={"Objects": objects, "Quiet": True})
