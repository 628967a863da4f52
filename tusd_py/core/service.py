"""UploadService: one operation per tus method, read top to bottom (after tusd's PatchFile).

The service owns the protocol rules; stores only store bytes and info. It knows nothing
of HTTP (the web layer parses headers and renders errors) nor of S3 or Redis.

Ownership: every operation takes the ``owner`` the web layer found for the request ("" on an
open server). An upload whose stored owner differs from a non-empty caller owner does not exist
for that caller (``UploadNotFound``, 404: existence is not leaked); the empty owner reaches
every upload, as an open server always did. The ``Catalogue`` hears of each upload's creation,
state changes and removal (never of a PATCH's bytes) and answers the quota checks (``quota.py``).
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from dataclasses import dataclass

import structlog

from ..protocol.checksum import ExpectedChecksum
from ..protocol.errors import (
    ChecksumMismatch,
    IncompleteUpload,
    InsufficientStorage,
    InvalidLength,
    ModifyFinal,
    OffsetMismatch,
    ReadInterrupted,
    TooLarge,
    UploadGone,
    UploadInterrupted,
    UploadSizeExceeded,
)
from ..protocol.headers import Concat, Metadata
from ..protocol.info import UploadInfo, UploadState
from .catalogue import Catalogue, NoCatalogue
from .composer import StoreComposer, require
from .concat import gather_partials
from .diskspace import SpaceGuard
from .finishing import Finisher
from .observer import Observer
from .ownership import owned_upload
from .ports import CompletionSink, Locker, ReadableUpload, RequestBody, Store, Upload
from .quota import Quota
from .spool import StagingBudget, spool

log = structlog.get_logger("tusd_py.service")


@dataclass(frozen=True)
class Limits:
    max_size: int | None = None  # Tus-Max-Size; None = only the store's ceiling
    expiry_seconds: float = 0  # sliding expiry of unfinished uploads; 0 = never
    lock_timeout: float = 10.0
    tmp_dir: str | None = None
    checksum_max_size: int = 1024**3  # checksummed bodies are staged before commit: cap them
    concat_max_partials: int = 1000  # partial uploads one final upload may list
    staging_memory: int = 64 * 1024**2  # RAM for staging checksummed bodies, across all requests
    disk_reserve: int = 0  # free bytes staging keeps in tmp_dir's filesystem; 0 = none
    quota_bytes: int = 0  # bytes one owner may hold (declared sizes); 0 = no quota
    quota_uploads_in_flight: int = 0  # unfinished uploads one owner may have; 0 = no limit


class UploadService:
    def __init__(
        self,
        store: Store,
        locker: Locker,
        sink: CompletionSink,
        limits: Limits,
        observer: Observer | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.store = store
        self.observer = observer or Observer()
        self.stores = StoreComposer.of(store)  # what the store offers, asked once
        self.locker = locker
        self.limits = limits
        self.finisher = Finisher(sink, self.observer)
        self.use_catalogue(catalogue or NoCatalogue())
        self.staging = StagingBudget(limits.staging_memory)
        self.staging_disk = SpaceGuard(limits.tmp_dir or tempfile.gettempdir(), limits.disk_reserve)

    def use_catalogue(self, catalogue: Catalogue) -> None:
        """Record uploads in ``catalogue`` from now on (a composition root may open it after the service)."""
        self.catalogue = catalogue
        self.finisher.catalogue = catalogue
        self.quota = Quota(catalogue, self.limits.quota_bytes, self.limits.quota_uploads_in_flight)

    @property
    def max_size(self) -> int:
        ceiling = self.store.max_upload_size
        return min(ceiling, self.limits.max_size) if self.limits.max_size else ceiling

    def extensions(self) -> list[str]:
        """``Tus-Extension``: what the store offers, and expiration only with an expiry set."""
        return self.stores.extensions(expiry_seconds=self.limits.expiry_seconds)

    def _expiry(self, now: float) -> float | None:
        if self.limits.expiry_seconds > 0 and self.stores.expires:
            return now + self.limits.expiry_seconds
        return None

    # -- POST -------------------------------------------------------------------------------
    async def create(
        self,
        *,
        length: int | None,
        metadata: Metadata,
        concat: Concat | None = None,
        partial_ids: list[str] | None = None,
        owner: str = "",
    ) -> tuple[Upload, UploadInfo]:
        """Create an upload (body, if any, goes through ``append`` afterwards)."""
        if length is not None and length > self.max_size:
            raise TooLarge(f"Upload-Length {length} exceeds the maximum size {self.max_size}")
        if concat is not None:
            require(self.stores.concater, "concatenation (Upload-Concat)")
        if length is None and not (concat and concat.is_final):
            require(self.stores.length_deferrer, "deferred lengths (Upload-Defer-Length)")
        if not (concat and concat.is_final):  # a final upload's size is known once its partials are
            await self.quota.admit_upload(owner, length, in_flight=length != 0)
        now = time.time()
        info = UploadInfo(
            id=secrets.token_hex(16),  # 128 random bits as 32 hex digits: no UUID object per request
            size=length,
            metadata=metadata.raw,
            is_partial=bool(concat and concat.is_partial),
            is_final=bool(concat and concat.is_final),
            concat=concat.raw if concat else "",
            owner=owner,
            created_at=now,
            expires_at=self._expiry(now),
        )
        if info.is_final:
            return await self._create_final(info, partial_ids or [])
        upload = await self._create_recorded(info)
        bound = log.bind(upload_id=info.id)
        bound.info("upload_created", size=length, partial=info.is_partial)
        self.observer.upload_created()
        if length == 0:  # complete at creation: finish and hand off inside the POST
            info = await self.finisher.ensure_finished(upload, await upload.get_info())
        return upload, info

    async def _create_recorded(self, info: UploadInfo) -> Upload:
        """The new upload in the store and in the catalogue, or in neither: one the catalogue never
        heard of would escape its owner's quota, list and erasure."""
        upload = await self.store.create_upload(info)
        try:
            await self.catalogue.created(info)
        except BaseException:
            if self.stores.terminater is not None:
                with contextlib.suppress(Exception):  # the catalogue's error is the one to report
                    await self.stores.terminater.as_terminatable_upload(upload).terminate("terminated")
            raise
        return upload

    async def _create_final(self, info: UploadInfo, partial_ids: list[str]) -> tuple[Upload, UploadInfo]:
        partials, total = await gather_partials(
            self.store,
            partial_ids,
            owner=info.owner,
            max_size=self.max_size,
            max_partials=self.limits.concat_max_partials,
        )
        info.size, info.partial_ids, info.expires_at = total, list(partial_ids), None
        await self.quota.admit_upload(info.owner, total, in_flight=False)
        upload = await self._create_recorded(info)
        await require(self.stores.concater, "concatenation (Upload-Concat)").concat(upload, partials)
        log.info("upload_concatenated", upload_id=info.id, parts=len(partials), size=total)
        self.observer.upload_created()
        info = await self.finisher.ensure_finished(upload, await upload.get_info())
        return upload, info

    # -- HEAD -------------------------------------------------------------------------------
    async def head(self, upload_id: str, owner: str = "") -> UploadInfo:
        asked = time.monotonic()
        async with self.locker.lock(upload_id, timeout=self.limits.lock_timeout):
            self.observer.lock_waited(time.monotonic() - asked)
            upload, info = await self._live(upload_id, owner)
            # A completion interrupted by a crash or an S3 error is retried here (state machine).
            return await self.finisher.ensure_finished(upload, info)

    async def _live(self, upload_id: str, owner: str) -> tuple[Upload, UploadInfo]:
        """The caller's upload and its info; an unfinished upload past its expiry is removed here (410)."""
        upload, info = await owned_upload(self.store, upload_id, owner)  # before the expiry: not even a 410
        if info.expires_at is not None and not info.is_complete and info.expires_at <= time.time():
            if self.stores.terminater is not None:
                await self.stores.terminater.as_terminatable_upload(upload).terminate("expired")
                await self.catalogue.terminated(upload_id)
            log.info("upload_expired", upload_id=upload_id)
            raise UploadGone("the upload has expired")
        return upload, info

    async def info(self, upload_id: str, owner: str = "") -> UploadInfo:
        """Lock-free read for status pages: never interrupts a running PATCH."""
        _, info = await owned_upload(self.store, upload_id, owner)
        return info

    # -- PATCH (and the body of POST) -----------------------------------------------------------
    async def append(
        self,
        upload_id: str,
        offset: int,
        body: RequestBody,
        *,
        length: int | None = None,
        checksum: ExpectedChecksum | None = None,
        owner: str = "",
    ) -> UploadInfo:
        asked = time.monotonic()
        async with self.locker.lock(upload_id, timeout=self.limits.lock_timeout) as lock:
            self.observer.lock_waited(time.monotonic() - asked)
            lock.on_release_request(body.stop)
            upload, info = await self._live(upload_id, owner)
            bound = log.bind(upload_id=upload_id)
            if info.is_final:
                raise ModifyFinal("a final upload cannot be modified")
            if offset != info.offset:
                raise OffsetMismatch(info.offset)
            if length is not None:
                info = await self._declare_length(upload, info, length)
            if info.is_complete:
                if await body.has_data():
                    raise UploadSizeExceeded("the upload is already complete")
                return await self.finisher.ensure_finished(upload, info)

            remaining = (info.size if info.size is not None else self.max_size) - info.offset
            room = await self.quota.room_for_body(
                info.owner, size=info.size, offset=info.offset, body=body.declared_length
            )
            if room is not None:  # a deferred length: the quota caps the body as the size would
                remaining = min(remaining, room)
            if body.declared_length is not None and body.declared_length > remaining:
                raise (UploadSizeExceeded if info.size is not None else TooLarge)(
                    f"the body ({body.declared_length} bytes) is larger than the {remaining} bytes left"
                )
            if checksum is not None:
                if body.declared_length is not None and body.declared_length > self.limits.checksum_max_size:
                    raise TooLarge(f"a checksummed PATCH may carry at most {self.limits.checksum_max_size} bytes")
                remaining = min(remaining, self.limits.checksum_max_size)
            body.limit = remaining
            bound.debug("chunk_write_start", offset=offset, declared=body.declared_length)
            declared = body.declared_length or 0
            self.observer.body_started(declared)
            try:
                written = await self._write(upload, offset, body, checksum)
            except InsufficientStorage as exc:  # what landed before the disk reserve is kept: say how much
                exc.headers.setdefault("Upload-Offset", str((await upload.get_info()).offset))
                raise
            finally:
                self.observer.body_ended(declared)
            self.observer.bytes_received(written)
            info.offset = offset + written  # what the store holds now (write_chunk's contract)
            # One line per PATCH at debug; an interrupted one is worth an info line (the 4xx/5xx
            # it answers is logged as request_failed with no offset).
            (bound.info if body.error or body.stopped else bound.debug)(
                "chunk_write_complete", offset=info.offset, written=written, error=body.error, stopped=body.stopped
            )
            if not info.is_complete:
                if self.stores.expirer is not None:
                    await self.stores.expirer.as_expiring_upload(upload).set_expiry(self._expiry(time.time()))
                info.expires_at = self._expiry(time.time())
            else:  # finish even if the body then broke: every byte is stored (tusd does the same)
                info = await self.finisher.ensure_finished(upload, info)
            if body.stopped:
                raise UploadInterrupted(
                    "a newer request for this upload took over", headers={"Upload-Offset": str(info.offset)}
                )
            if body.error:
                raise ReadInterrupted(body.error, headers={"Upload-Offset": str(info.offset)})
            return info

    async def _write(self, upload: Upload, offset: int, body: RequestBody, checksum: ExpectedChecksum | None) -> int:
        if checksum is None:
            return await upload.write_chunk(offset, body)
        staged, matched = await spool(
            body,
            checksum,
            budget=self.staging,
            size_hint=body.declared_length,
            tmp_dir=self.limits.tmp_dir,
            disk=self.staging_disk,
        )
        try:
            if body.stopped or body.error:  # an unverifiable partial body is dropped whole (K8)
                return 0
            if not matched:
                raise ChecksumMismatch(f"the body does not match its {checksum.algorithm} checksum")
            return await upload.write_chunk(offset, staged)
        finally:
            staged.close()

    async def _declare_length(self, upload: Upload, info: UploadInfo, length: int) -> UploadInfo:
        if info.size is not None:
            if length != info.size:
                raise InvalidLength(f"Upload-Length is already {info.size} and cannot change")
            return info
        if length < info.offset:
            raise InvalidLength(f"Upload-Length {length} is smaller than the offset {info.offset}")
        if length > self.max_size:
            raise TooLarge(f"Upload-Length {length} exceeds the maximum size {self.max_size}")
        await self.quota.admit_length(info.owner, length)
        deferrer = require(self.stores.length_deferrer, "deferred lengths (Upload-Defer-Length)")
        await deferrer.as_length_declarable_upload(upload).declare_length(length)
        info = await upload.get_info()
        await self.catalogue.updated(info)
        return info

    # -- DELETE -------------------------------------------------------------------------------
    async def terminate(self, upload_id: str, owner: str = "") -> None:
        terminater = require(self.stores.terminater, "termination (DELETE)")
        asked = time.monotonic()
        async with self.locker.lock(upload_id, timeout=self.limits.lock_timeout):
            self.observer.lock_waited(time.monotonic() - asked)
            try:
                upload, _ = await self._live(upload_id, owner)
            except UploadGone:  # a row left by a catalogue that failed at the first DELETE goes now
                await self.catalogue.terminated(upload_id)
                raise
            await terminater.as_terminatable_upload(upload).terminate("terminated")
            await self.catalogue.terminated(upload_id)
            log.info("upload_terminated", upload_id=upload_id)
            self.observer.upload_terminated()

    # -- GET ----------------------------------------------------------------------------------
    async def open_download(self, upload_id: str, owner: str = "") -> tuple[ReadableUpload, UploadInfo]:
        reader = require(self.stores.reader, "downloads (GET)")
        upload, info = await self._live(upload_id, owner)
        if not info.is_complete or info.state in (UploadState.RECEIVING, UploadState.COMPLETING):
            raise IncompleteUpload("the upload is not complete yet")
        return reader.as_readable_upload(upload), info
