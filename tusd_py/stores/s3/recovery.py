"""Finding an upload's record: from Redis, or rebuilt from S3 when Redis lost it.

The rebuild reads ``<key>.info``, the parts S3 holds (ListParts) and the checkpoint in
``<key>.part``; see "Considerations" in the package docstring for what it trusts.
"""

from __future__ import annotations

import json
import re
import time

import structlog

from ...protocol.errors import UploadGone, UploadNotFound
from ...protocol.info import UploadInfo, UploadState
from ...state.records import PartRecord, UploadRecord
from .bucket import S3Bucket
from .client import map_s3_errors

log = structlog.get_logger("tusd_py.s3store")

UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # always fullmatch: `$` would let "id\n" through


async def load(bucket: S3Bucket, upload_id: str) -> UploadRecord:
    """The record from Redis; rebuilt from S3 when Redis lost it (never from a tombstone)."""
    if not UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound(f"upload {upload_id} does not exist")
    record = await bucket.records.get(upload_id)
    if record is not None:
        return record
    if (owner := await bucket.records.tombstone_owner(upload_id)) is not None:
        raise UploadGone("the upload was terminated or has expired", owner=owner)
    record, parts = await _rebuild(bucket, upload_id)
    await bucket.records.put(record, parts)
    log.info("s3_record_rebuilt", upload_id=upload_id, offset=record.info.offset, parts=record.parts)
    return record


async def _read_info(bucket: S3Bucket, upload_id: str) -> UploadRecord:
    async with map_s3_errors("GetObject", missing=lambda _: UploadNotFound(f"upload {upload_id} does not exist")):
        resp = await bucket.client.get_object(Bucket=bucket.name, Key=bucket.key(upload_id, ".info"))
        async with resp["Body"] as stream:
            doc = json.loads(await stream.read())
    info = UploadInfo.from_dict(doc["info"])
    return UploadRecord(info, str(doc.get("multipart_id", "")), int(doc.get("part_size", 0)))


async def _rebuild(bucket: S3Bucket, upload_id: str) -> tuple[UploadRecord, list[PartRecord]]:
    record = await _read_info(bucket, upload_id)
    info = record.info
    stored = await bucket.list_parts(upload_id, record.multipart_id) if record.multipart_id else None
    if stored is None:  # no multipart upload (any more): the object is complete, or never was
        final = await bucket.object_size(bucket.key(upload_id))
        if final is not None and final == info.size:
            info.offset, info.expires_at = final, None
            info.state = info.state if info.state.finished else UploadState.COMPLETED
            return record, []
        if final is None and info.state is UploadState.HANDED_OFF and info.size is not None:
            # .info is rewritten at hand-off, after the object's size was checked: every byte
            # arrived. Processing may since have discarded the plaintext object (an encrypted
            # original replaces it), so the upload stays complete rather than "lost", and says its
            # plaintext is gone (an .info written before discards were recorded does not).
            info.offset, info.expires_at, info.discarded = info.size, None, True
            return record, []
        if record.multipart_id or info.size != 0:
            raise UploadNotFound(f"upload {upload_id} has lost its data")
        stored = []
    # Only parts covered by the last checkpoint are certain to be this upload's bytes in
    # order: a part number above it may hold bytes of an interrupted request.
    checkpoint = await bucket.head_tail(upload_id)
    trusted = checkpoint.parts if checkpoint else 0
    parts = [p for i, p in enumerate(stored[:trusted], start=1) if p.number == i]
    end = sum(p.size for p in parts)
    tail = checkpoint.size if checkpoint and len(parts) == trusted and checkpoint.start == end else 0
    record.parts, record.tail = len(parts), tail
    info.offset, info.state = end + tail, UploadState.RECEIVING
    if info.expires_at is not None and bucket.config.expiry_seconds > 0:
        info.expires_at = max(info.expires_at, time.time() + bucket.config.expiry_seconds)
    return record, parts
