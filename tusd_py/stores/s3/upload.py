"""S3Upload: the per-upload operations of the S3 store.

``write_chunk`` cuts the body (after the carried-over tail) into parts as it arrives and sends
them through the bounded ``PartPipeline``; the record's offset advances as S3 acknowledges a
contiguous run of parts. At the end of the request the remainder becomes the new tail object,
which also records the part count (the checkpoint a rebuild from S3 trusts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ...core.ports import Body, TombstoneReason
from ...protocol.errors import OffsetMismatch, StorageUnavailable, TusError, UploadNotFound
from ...protocol.info import UploadInfo, UploadState
from ...state.records import PartRecord, UploadRecord
from .client import map_s3_errors
from .parts import PartBuffer, PartFailed, PartPipeline, PartStream, Sender

if TYPE_CHECKING:
    from .store import S3Store

_READ = 1024 * 1024
T = TypeVar("T")


class _Detached(Exception):
    """The record vanished or was rebuilt under a running request: stop writing."""


class _RolledBack(Exception):
    """A protocol violation was rolled back; carries the error to raise to the caller."""

    def __init__(self, error: TusError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Committed:
    parts: int
    end: int  # bytes covered by the committed parts


class S3Upload:
    assembles = True  # finish() completes the multipart upload (and joins a carried tail)

    def __init__(self, store: S3Store, upload_id: str) -> None:
        self.store = store
        self.id = upload_id
        self.key = store.key(upload_id)

    async def get_info(self) -> UploadInfo:
        return (await self.store.load(self.id)).info  # Redis only, unless the record was lost

    # -- PATCH -------------------------------------------------------------------------------
    async def write_chunk(self, offset: int, body: Body) -> int:
        store, policy = self.store, self.store.config.policy
        record = await store.load(self.id)
        if offset != record.info.offset:
            raise OffsetMismatch(record.info.offset)
        length, part_size = record.info.size, record.part_size
        buf = PartBuffer(await store.read_tail(record)) if record.tail else PartBuffer()
        done = _Committed(record.parts, record.parts_end)
        start = record.parts_end  # the offset of buf[0]

        async def commit(parts: list[PartRecord]) -> None:
            end = done.end + sum(p.size for p in parts)
            if not await store.records.commit(
                self.id, expect=done.parts, keep=done.parts, add=parts, tail=0, offset=end
            ):
                raise _Detached
            done.parts, done.end = done.parts + len(parts), end

        pipeline = PartPipeline(
            self._sender(record.multipart_id),
            commit,
            first_number=record.parts + 1,
            in_flight=store.config.parts_in_flight,
            slots=store.slots,
            retry_delays=store.config.retry_delays,
        )
        try:
            size = policy.size_at(part_size, start)
            chunks = aiter(body)
            while True:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TusError as exc:  # a protocol violation in the body: undo the whole request
                    await pipeline.abort()
                    await store.records.commit(
                        self.id, expect=done.parts, keep=record.parts, add=[], tail=record.tail, offset=offset
                    )
                    # Past the salvage below: the S3 checkpoint and tail must stay as they were.
                    raise _RolledBack(exc) from exc
                view = memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))  # views need immutable bytes
                while view:
                    take = min(len(view), size - len(buf))
                    buf.append(view[:take])
                    view = view[take:]
                    if len(buf) == size:
                        await pipeline.submit(buf)
                        buf, start = PartBuffer(), start + size
                        size = policy.size_at(part_size, start)
            final = length is not None and start + len(buf) == length
            short_ok = policy.may_cut_short(
                part_size=part_size, length=length, parts_used=pipeline.next_number - 1, start=start, size=len(buf)
            )
            if buf and (final or short_ok):
                await pipeline.submit(buf)
                buf, start = PartBuffer(), start + len(buf)
            await pipeline.close()
        except PartFailed as exc:
            await self._salvage(pipeline, done, record)
            cause = exc.__cause__
            if isinstance(cause, TusError) and not isinstance(cause, StorageUnavailable):
                raise cause from None
            raise StorageUnavailable(f"storing part of upload {self.id} failed; resume from HEAD") from cause
        except _RolledBack as rolled:
            raise rolled.error from None
        except _Detached:
            await pipeline.abort()
            raise StorageUnavailable(f"the record of upload {self.id} was lost meanwhile; resume from HEAD") from None
        except BaseException:  # cancelled, or Redis/S3 trouble outside a part: keep what S3 acknowledged
            await asyncio.shield(self._salvage(pipeline, done, record))
            raise
        if done.parts != record.parts or len(buf) != record.tail:
            await store.put_tail(self.id, buf, start=done.end, parts=done.parts)  # tail + checkpoint
            if not await store.records.commit(
                self.id, expect=done.parts, keep=done.parts, add=[], tail=len(buf), offset=done.end + len(buf)
            ):
                raise StorageUnavailable(f"the record of upload {self.id} was lost meanwhile; resume from HEAD")
        return done.end + len(buf) - offset

    def _sender(self, multipart_id: str) -> Sender:
        store = self.store

        async def send(number: int, data: PartBuffer) -> str:
            async with map_s3_errors("UploadPart"):
                resp = await store.client.upload_part(
                    Bucket=store.config.bucket,
                    Key=self.key,
                    UploadId=multipart_id,
                    PartNumber=number,
                    Body=PartStream(data),
                )
            return str(resp["ETag"])

        return send

    async def _salvage(self, pipeline: PartPipeline, done: _Committed, record: UploadRecord) -> None:
        """Commit the parts S3 acknowledged before a failure, and checkpoint them."""
        with contextlib.suppress(Exception):
            await pipeline.close()
        if done.parts != record.parts:  # the old tail went into a committed part: checkpoint anew
            with contextlib.suppress(Exception):
                await self.store.put_tail(self.id, b"", start=done.end, parts=done.parts)

    # -- state -------------------------------------------------------------------------------
    async def _update(self, setter: Callable[[str, T], Awaitable[bool]], value: T) -> None:
        if not await setter(self.id, value):
            await self.store.load(self.id)  # the record was lost: rebuild it, then apply
            if not await setter(self.id, value):
                raise StorageUnavailable(f"could not update the record of upload {self.id}")

    async def declare_length(self, length: int) -> None:
        record = await self.store.load(self.id)
        record.info.size = length
        await self.store.put_info(record)  # S3 first: a rebuild must know the length too
        await self._update(self.store.records.set_size, length)

    async def set_expiry(self, expires_at: float | None) -> None:
        await self._update(self.store.records.set_expiry, expires_at)

    async def set_state(self, state: UploadState) -> None:
        record = await self.store.load(self.id)
        if state.finished:  # S3 remembers it too, so a rebuild never hands an upload off twice
            record.info.state, record.info.expires_at = state, None
            await self.store.put_info(record)
        await self._update(self.store.records.set_state, state)
        if state is UploadState.HANDED_OFF or (state is UploadState.COMPLETED and record.info.is_partial):
            await self.store.records.forget(self.id)

    # -- completion --------------------------------------------------------------------------
    async def finish(self) -> None:
        store = self.store
        record = await store.load(self.id)
        info = record.info
        if info.size is None or info.offset != info.size:
            raise TusError(f"upload {self.id} cannot be assembled before every byte is stored")
        if not info.state.finished:
            if record.tail:  # a deferred upload whose length was declared after its last bytes
                record = await self._tail_as_last_part(record)
            if info.size == 0:
                async with map_s3_errors("PutObject"):
                    await store.client.put_object(Bucket=store.config.bucket, Key=self.key, Body=b"")
                await self._abort_multipart(record)
            else:
                parts = [{"PartNumber": p.number, "ETag": p.etag} for p in await store.records.parts(self.id)]
                try:
                    async with map_s3_errors("CompleteMultipartUpload"):
                        await store.client.complete_multipart_upload(
                            Bucket=store.config.bucket,
                            Key=self.key,
                            UploadId=record.multipart_id,
                            MultipartUpload={"Parts": parts},
                        )
                except UploadNotFound:
                    pass  # completed by an earlier attempt: the size check below decides
        actual = await store.object_size(self.key)
        if actual != info.size:
            raise TusError(f"the object of upload {self.id} has {actual} bytes, expected {info.size}")
        await self._delete(".part")

    async def _tail_as_last_part(self, record: UploadRecord) -> UploadRecord:
        data = PartBuffer(await self.store.read_tail(record))
        etag = await self._sender(record.multipart_id)(record.parts + 1, data)
        part = PartRecord(record.parts + 1, len(data), etag)
        end = record.info.offset
        await self.store.put_tail(self.id, b"", start=end, parts=part.number)
        if not await self.store.records.commit(
            self.id, expect=record.parts, keep=record.parts, add=[part], tail=0, offset=end
        ):
            raise StorageUnavailable(f"the record of upload {self.id} changed meanwhile; retry")
        return await self.store.load(self.id)

    async def _abort_multipart(self, record: UploadRecord) -> None:
        if not record.multipart_id:
            return
        with contextlib.suppress(UploadNotFound):
            async with map_s3_errors("AbortMultipartUpload"):
                await self.store.client.abort_multipart_upload(
                    Bucket=self.store.config.bucket, Key=self.key, UploadId=record.multipart_id
                )

    async def _delete(self, *suffixes: str) -> None:
        objects = [{"Key": self.key + suffix} for suffix in suffixes]
        async with map_s3_errors("DeleteObjects"):
            await self.store.client.delete_objects(
                Bucket=self.store.config.bucket, Delete={"Objects": objects, "Quiet": True}
            )

    async def discard(self) -> None:
        info = await self.get_info()
        if info.size is None or info.offset != info.size or not info.state.finished:
            raise TusError(f"upload {self.id} is not complete: its object cannot be discarded")
        # The record (Redis) and .info stay; a record rebuilt from a handed-off .info needs no object.
        await self._delete("")

    release = discard  # the name processing calls

    async def terminate(self, reason: TombstoneReason) -> None:
        record = await self.store.load(self.id)
        await self._abort_multipart(record)
        await self._delete("", ".info", ".part")
        await self.store.records.delete(self.id, tombstone_ttl=self.store.config.tombstone_ttl)

    # -- GET ---------------------------------------------------------------------------------
    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:  # an empty object or range: "bytes=0--1" would be a 400 from S3
            return
        store = self.store
        async with map_s3_errors("GetObject"):
            resp = await store.client.get_object(
                Bucket=store.config.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}"
            )
            async with resp["Body"] as stream:
                while chunk := await stream.read(_READ):
                    yield chunk
