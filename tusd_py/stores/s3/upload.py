"""S3Upload: the per-upload operations of the S3 store.

``write_chunk`` cuts the body (after the carried-over tail) into parts as it arrives and sends
them through the bounded ``PartPipeline``; the record's offset advances as S3 acknowledges a
contiguous run of parts. At the end of the request the remainder becomes the new tail object,
which also records the part count (the checkpoint a rebuild from S3 trusts).

An upload sees the store only through ``S3Bucket`` (bucket.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from ...core.ports import Body, TombstoneReason
from ...protocol.errors import Forbidden, OffsetMismatch, StorageUnavailable, TusError, UploadNotFound
from ...protocol.info import UploadInfo, UploadState
from ...state.records import PartRecord, UploadRecord
from .bucket import S3Bucket
from .client import map_s3_errors
from .parts import PartBuffer, PartFailed, PartPipeline, Sender
from .recovery import load

_READ = 1024 * 1024
T = TypeVar("T")


class _Detached(Exception):
    """The record vanished or was rebuilt under a running request: stop writing."""


class _RolledBack(Exception):
    """A protocol violation was rolled back; carries the error to raise to the caller."""

    def __init__(self, error: TusError) -> None:
        super().__init__(str(error))
        self.error = error


class _PartWriter:
    """One ``write_chunk``: the bytes after the committed parts, cut into parts as they arrive.

    ``done`` is what the record says is committed; ``buf`` holds the bytes from ``start`` on
    that are not part of a submitted part yet (at the start: the carried-over tail).
    """

    def __init__(self, bucket: S3Bucket, record: UploadRecord, tail: bytes) -> None:
        self.bucket, self.record, self.id = bucket, record, record.info.id
        self.buf = PartBuffer(tail)
        self.start = record.parts_end  # the offset of buf[0]
        self.done_parts, self.done_end = record.parts, record.parts_end
        self.pipeline = PartPipeline(
            part_sender(bucket, self.id, record.multipart_id),
            self._commit,
            first_number=record.parts + 1,
            in_flight=bucket.config.parts_in_flight,
            slots=bucket.slots,
        )

    async def _commit(self, parts: list[PartRecord]) -> None:
        """Advance the record over parts S3 acknowledged, in order."""
        end = self.done_end + sum(p.size for p in parts)
        n = self.done_parts
        if not await self.bucket.records.commit(self.id, expect=n, keep=n, add=parts, tail=0, offset=end):
            raise _Detached
        self.done_parts, self.done_end = n + len(parts), end

    async def cut(self, body: Body, offset: int) -> None:
        """Submit every full part of the body as it arrives (backpressure: the pipeline waits)."""
        policy, part_size, pipeline = self.bucket.policy, self.record.part_size, self.pipeline
        buf, start = self.buf, self.start
        size = policy.size_at(part_size, start)
        chunks = aiter(body)
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except TusError as exc:  # a protocol violation in the body: undo the whole request
                await self._roll_back(offset)
                raise _RolledBack(exc) from exc
            view = memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))  # views need immutable bytes
            while view:
                take = min(len(view), size - len(buf))
                buf.append(view[:take])
                view = view[take:]
                if len(buf) == size:
                    await pipeline.submit(buf)
                    # self.buf must not keep a submitted part alive until the body ends
                    self.buf, self.start = buf, start = PartBuffer(), start + size
                    size = policy.size_at(part_size, start)

    async def _roll_back(self, offset: int) -> None:
        """Back to the record as it was; the S3 checkpoint and tail were never touched."""
        record = self.record
        await self.pipeline.abort()
        await self.bucket.records.commit(
            self.id, expect=self.done_parts, keep=record.parts, add=[], tail=record.tail, offset=offset
        )

    async def last_part(self) -> None:
        """Send the short remainder as a part if it ends the upload or may be cut short; wait
        for every part."""
        length, buf = self.record.info.size, self.buf
        final = length is not None and self.start + len(buf) == length
        short_ok = self.bucket.policy.may_cut_short(
            part_size=self.record.part_size,
            length=length,
            parts_used=self.pipeline.next_number - 1,
            start=self.start,
            size=len(buf),
        )
        if buf and (final or short_ok):
            await self.pipeline.submit(buf)
            self.buf, self.start = PartBuffer(), self.start + len(buf)
        await self.pipeline.close()

    async def salvage(self) -> None:
        """Commit the parts S3 acknowledged before a failure, and checkpoint them."""
        with contextlib.suppress(Exception):
            await self.pipeline.close()
        if self.done_parts != self.record.parts:  # the old tail went into a committed part: checkpoint anew
            with contextlib.suppress(Exception):
                await self.bucket.put_tail(self.id, b"", start=self.done_end, parts=self.done_parts)

    async def checkpoint(self) -> int:
        """Write the remainder as the tail object (with the part count) if anything changed;
        the new offset."""
        record, buf = self.record, self.buf
        end = self.done_end + len(buf)
        if self.done_parts != record.parts or len(buf) != record.tail:
            await self.bucket.put_tail(self.id, buf, start=self.done_end, parts=self.done_parts)
            n = self.done_parts
            if not await self.bucket.records.commit(self.id, expect=n, keep=n, add=[], tail=len(buf), offset=end):
                raise StorageUnavailable(f"the record of upload {self.id} was lost meanwhile; resume from HEAD")
        return end


def part_sender(bucket: S3Bucket, upload_id: str, multipart_id: str) -> Sender:
    async def send(number: int, data: PartBuffer) -> str:
        return await bucket.upload_part(upload_id, multipart_id, number, data)

    return send


class S3Upload:
    assembles = True  # finish() completes the multipart upload (and joins a carried tail)

    def __init__(self, bucket: S3Bucket, upload_id: str) -> None:
        self.bucket = bucket
        self.id = upload_id
        self.key = bucket.key(upload_id)

    async def get_info(self) -> UploadInfo:
        return (await load(self.bucket, self.id)).info  # Redis only, unless the record was lost

    # -- PATCH -------------------------------------------------------------------------------
    async def write_chunk(self, offset: int, body: Body) -> int:
        record = await load(self.bucket, self.id)
        if record.info.storage.get("direct"):  # its part numbers belong to the client (stores/s3/direct.py)
            raise Forbidden(f"upload {self.id} is a direct upload: its bytes go to its presigned S3 URLs")
        if offset != record.info.offset:
            raise OffsetMismatch(record.info.offset)
        writer = _PartWriter(self.bucket, record, await self.bucket.read_tail(record) if record.tail else b"")
        try:
            await writer.cut(body, offset)
            await writer.last_part()
        except PartFailed as exc:
            await writer.salvage()
            cause = exc.__cause__
            if isinstance(cause, TusError) and not isinstance(cause, StorageUnavailable):
                raise cause from None
            raise StorageUnavailable(f"storing part of upload {self.id} failed; resume from HEAD") from cause
        except _RolledBack as rolled:
            raise rolled.error from None
        except _Detached:
            await writer.pipeline.abort()
            raise StorageUnavailable(f"the record of upload {self.id} was lost meanwhile; resume from HEAD") from None
        except BaseException:  # cancelled, or Redis/S3 trouble outside a part: keep what S3 acknowledged
            await asyncio.shield(writer.salvage())
            raise
        return await writer.checkpoint() - offset

    # -- state -------------------------------------------------------------------------------
    async def _update(self, setter: Callable[[str, T], Awaitable[bool]], value: T) -> None:
        if not await setter(self.id, value):
            await load(self.bucket, self.id)  # the record was lost: rebuild it, then apply
            if not await setter(self.id, value):
                raise StorageUnavailable(f"could not update the record of upload {self.id}")

    async def declare_length(self, length: int) -> None:
        record = await load(self.bucket, self.id)
        record.info.size = length
        await self.bucket.put_info(record)  # S3 first: a rebuild must know the length too
        await self._update(self.bucket.records.set_size, length)

    async def set_expiry(self, expires_at: float | None) -> None:
        await self._update(self.bucket.records.set_expiry, expires_at)

    async def set_state(self, state: UploadState) -> None:
        record = await load(self.bucket, self.id)
        if state.finished:  # S3 remembers it too, so a rebuild never hands an upload off twice
            record.info.state, record.info.expires_at = state, None
            await self.bucket.put_info(record)
        await self._update(self.bucket.records.set_state, state)
        if state is UploadState.HANDED_OFF or (state is UploadState.COMPLETED and record.info.is_partial):
            await self.bucket.records.forget(self.id)

    # -- completion --------------------------------------------------------------------------
    async def finish(self) -> None:
        bucket = self.bucket
        record = await load(bucket, self.id)
        info = record.info
        if info.size is None or info.offset != info.size:
            raise TusError(f"upload {self.id} cannot be assembled before every byte is stored")
        if not info.state.finished:
            if record.tail:  # a deferred upload whose length was declared after its last bytes
                record = await self._tail_as_last_part(record)
            if info.size == 0:
                async with map_s3_errors("PutObject"):
                    await bucket.client.put_object(Bucket=bucket.name, Key=self.key, Body=b"")
                await bucket.abort_multipart(record)
            elif record.multipart_id:  # none: a direct upload's single PUT, the object is there already
                await self._complete(record)
        actual = await bucket.object_size(self.key)
        if actual != info.size:
            raise TusError(f"the object of upload {self.id} has {actual} bytes, expected {info.size}")
        await bucket.delete(self.id, ".part")

    async def _complete(self, record: UploadRecord) -> None:
        parts = [{"PartNumber": p.number, "ETag": p.etag} for p in await self.bucket.records.parts(self.id)]
        try:
            async with map_s3_errors("CompleteMultipartUpload"):
                await self.bucket.client.complete_multipart_upload(
                    Bucket=self.bucket.name,
                    Key=self.key,
                    UploadId=record.multipart_id,
                    MultipartUpload={"Parts": parts},
                )
        except UploadNotFound:
            pass  # completed by an earlier attempt: the size check in finish() decides

    async def _tail_as_last_part(self, record: UploadRecord) -> UploadRecord:
        data = PartBuffer(await self.bucket.read_tail(record))
        etag = await self.bucket.upload_part(self.id, record.multipart_id, record.parts + 1, data)
        part = PartRecord(record.parts + 1, len(data), etag)
        end = record.info.offset
        await self.bucket.put_tail(self.id, b"", start=end, parts=part.number)
        n = record.parts
        if not await self.bucket.records.commit(self.id, expect=n, keep=n, add=[part], tail=0, offset=end):
            raise StorageUnavailable(f"the record of upload {self.id} changed meanwhile; retry")
        return await load(self.bucket, self.id)

    async def discard(self) -> None:
        info = await self.get_info()
        if info.size is None or info.offset != info.size or not info.state.finished:
            raise TusError(f"upload {self.id} is not complete: its object cannot be discarded")
        # The record (Redis) and .info stay and say so, .info first (a rebuild reads it), before
        # the object goes: no reader ever looks for an object that is not there.
        if not info.discarded:
            record = await load(self.bucket, self.id)
            record.info.discarded = True
            await self.bucket.put_info(record)
            await self._update(self.bucket.records.set_discarded, True)
        await self.bucket.delete(self.id, "")

    async def terminate(self, reason: TombstoneReason) -> None:
        record = await load(self.bucket, self.id)
        await self.bucket.abort_multipart(record)
        await self.bucket.delete(self.id, "", ".info", ".part")
        tombstone_ttl = self.bucket.config.tombstone_ttl
        await self.bucket.records.delete(self.id, tombstone_ttl=tombstone_ttl, owner=record.info.owner)

    # -- GET ---------------------------------------------------------------------------------
    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:  # an empty object or range: "bytes=0--1" would be a 400 from S3
            return
        async with map_s3_errors("GetObject"):
            resp = await self.bucket.client.get_object(
                Bucket=self.bucket.name, Key=self.key, Range=f"bytes={start}-{end - 1}"
            )
            async with resp["Body"] as stream:
                while chunk := await stream.read(_READ):
                    yield chunk
