"""DirectService: the rules of direct-to-S3 uploads, the server side of Uppy's S3 multipart flow.

The bytes never pass through the server: it creates the upload (its key, under the store's
prefix and the server's random id, never the client's choice), signs one URL per part number,
and at the end lists the parts itself (ListParts) instead of trusting the client's list. The
completed upload is then finished by the tus core's own state machine (``Finisher``: the store's
CompleteMultipartUpload and size check, the hand-off to processing exactly once), so it is an
upload of the catalogue like a tus one: HEAD, GET, ``/media/{id}``, expiry and the sweeper see no
difference. HTTP lives in ``routes.py``; S3 behind the ``DirectStorage`` port.

Ownership: an upload of another owner, a tus upload, or a key that is not the upload's is
``UploadNotFound`` (404) on every call, before anything else is looked at.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import secrets
import time
from dataclasses import dataclass

import structlog

from ..core.ownership import owned_upload
from ..core.ports import Upload
from ..core.service import UploadService
from ..protocol.errors import (
    BadRequest,
    Forbidden,
    InvalidLength,
    TooLarge,
    TusError,
    UploadGone,
    UploadNotFound,
    UploadSizeExceeded,
)
from ..protocol.info import UploadInfo
from .ports import DirectStorage, Part

log = structlog.get_logger("tusd_py.direct")

MAX_PART_NUMBER = 10_000  # S3's limit
_META_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
MAX_META_ENTRIES = 32
MAX_META_VALUE = 1024


@dataclass(frozen=True)
class DirectPolicy:
    url_ttl: int = 600  # seconds a presigned URL is valid
    expiry: float = 86400.0  # seconds an unfinished direct upload lives
    min_part_size: int = 5 * 1024**2  # every part but the last (S3 refuses smaller at completion)
    batch_max: int = 100  # part numbers one batch request may ask for


def encode_metadata(filename: str, content_type: str, extra: dict[str, str]) -> str:
    """The upload's metadata in tus's ``Upload-Metadata`` form, as a tus upload would store it.
    Keys that tus cannot carry are left out; values are capped (the request was bounded already)."""
    values = {k: v for k, v in extra.items() if _META_KEY.fullmatch(k) and len(v) <= MAX_META_VALUE}
    if filename:
        values["filename"] = filename
    if content_type:
        values["filetype"] = content_type
    pairs = list(values.items())[:MAX_META_ENTRIES]
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs)


class DirectService:
    def __init__(self, service: UploadService, storage: DirectStorage, policy: DirectPolicy) -> None:
        self.service = service
        self.storage = storage
        self.policy = policy

    # -- create -----------------------------------------------------------------------------
    async def create(
        self,
        owner: str,
        *,
        size: int,
        filename: str,
        content_type: str,
        metadata: dict[str, str],
        multipart: bool,
    ) -> UploadInfo:
        """A new direct upload of exactly ``size`` bytes, checked against the maximum size and the
        owner's quota before S3 is asked for anything."""
        service = self.service
        if size < 0:
            raise InvalidLength(f"the declared size {size} is negative")
        if multipart and size == 0:
            raise InvalidLength("an empty file is uploaded as a single upload (GET /s3/params), not in parts")
        if size > service.max_size:
            raise TooLarge(f"the declared size {size} exceeds the maximum size {service.max_size}")
        await service.quota.admit_upload(owner, size, in_flight=True)
        now = time.time()
        info = UploadInfo(
            id=secrets.token_hex(16),
            size=size,
            metadata=encode_metadata(filename, content_type, metadata),
            owner=owner,
            created_at=now,
            expires_at=now + self.policy.expiry,
        )
        await self.storage.create(info, multipart=multipart, content_type=content_type)
        await service.catalogue.created(info)
        service.observer.upload_created()
        log.info("direct_upload_created", upload_id=info.id, size=size, mode=info.storage.get("direct"))
        return info

    # -- finding the caller's upload ----------------------------------------------------------
    async def _find(self, owner: str, upload_id: str, key: str) -> tuple[Upload, UploadInfo]:
        missing = UploadNotFound(f"upload {upload_id} does not exist")
        try:
            upload, info = await owned_upload(self.service.store, upload_id, owner)  # another's removed one: 404
        except UploadNotFound:
            raise missing from None
        if not info.storage.get("direct") or info.storage.get("key") != key:
            raise missing  # a tus upload, or a key that is not this upload's: nothing to say
        if info.expires_at is not None and not info.is_complete and info.expires_at <= time.time():
            raise UploadGone("the upload has expired")  # the sweeper aborts it
        return upload, info

    def _check_numbers(self, numbers: list[int]) -> None:
        if not numbers:
            raise BadRequest("no part number given")
        if len(numbers) > self.policy.batch_max:
            raise BadRequest(f"at most {self.policy.batch_max} part numbers per request, not {len(numbers)}")
        if len(set(numbers)) != len(numbers):
            raise BadRequest("a part number is listed more than once")
        for number in numbers:
            if not 1 <= number <= MAX_PART_NUMBER:
                raise BadRequest(f"the part number must be between 1 and {MAX_PART_NUMBER}, not {number}")

    # -- sign, list ---------------------------------------------------------------------------
    async def sign_parts(self, owner: str, upload_id: str, key: str, numbers: list[int]) -> dict[int, str]:
        self._check_numbers(numbers)
        _, info = await self._find(owner, upload_id, key)
        if info.storage.get("direct") != "multipart":
            raise BadRequest("this is a single upload (/s3/params): it has no parts to sign")
        if info.state.finished or info.is_complete:
            raise Forbidden("the upload is complete: its parts can no longer change")
        # Every part but the last holds at least the minimum, so the declared size bounds the part
        # numbers: a URL for part 10,000 of a 10 MiB upload would only let a client park bytes.
        most = max(1, math.ceil((info.size or 0) / self.policy.min_part_size))
        if max(numbers) > most:
            raise BadRequest(
                f"an upload of {info.size} bytes has at most {most} parts (each but the last at least "
                f"{self.policy.min_part_size} bytes), not part {max(numbers)}"
            )
        return await self.storage.sign_parts(upload_id, numbers, self.policy.url_ttl)

    async def sign_post(self, info: UploadInfo, content_type: str) -> tuple[str, dict[str, str]]:
        assert info.size is not None
        return await self.storage.sign_post(info.id, size=info.size, content_type=content_type, ttl=self.policy.url_ttl)

    async def list_parts(self, owner: str, upload_id: str, key: str) -> list[Part]:
        _, info = await self._find(owner, upload_id, key)
        if info.storage.get("direct") != "multipart":
            raise BadRequest("this is a single upload (/s3/params): it has no parts")
        return await self.storage.parts(upload_id) or []

    # -- complete, abort ----------------------------------------------------------------------
    async def complete(self, owner: str, upload_id: str, key: str) -> UploadInfo:
        service = self.service
        async with service.locker.lock(upload_id, timeout=service.limits.lock_timeout):
            upload, info = await self._find(owner, upload_id, key)
            return await self._settle(upload, info, asked=True)

    async def _settle(self, upload: Upload, info: UploadInfo, *, asked: bool) -> UploadInfo:
        """Take what S3 holds as the upload's bytes, if it is exactly the declared size, and finish
        it as the tus core finishes any upload. ``asked``: the client said it is done (else the
        background sweep found a single upload's object)."""
        if not info.is_complete:  # not adopted yet (a retried completion skips to the finisher)
            size = info.size or 0
            if info.storage.get("direct") == "multipart":
                parts = await self.storage.parts(info.id)
                if parts is None:
                    raise UploadNotFound(f"the multipart upload of {info.id} no longer exists")
                total = sum(p[1] for p in parts)
            else:
                stored = await self.storage.stored_size(info.id)
                if stored is None:
                    raise BadRequest("nothing was uploaded with the presigned form yet")
                parts, total = [], stored
            if total > size:
                await self._refuse(upload, info.id)
                raise UploadSizeExceeded(
                    f"S3 holds {total} bytes of upload {info.id}, {size} were declared: the upload is aborted"
                )
            self._check_parts(parts, total, size)
            await self.storage.adopt(info.id, parts, total)
            info = await upload.get_info()
        finished = await self.service.finisher.ensure_finished(upload, info)
        log.info("direct_upload_completed", upload_id=info.id, size=info.size, asked=asked)
        return finished

    def _check_parts(self, parts: list[Part], total: int, size: int) -> None:
        for index, (number, part_size, _) in enumerate(parts, start=1):
            if number != index:
                raise BadRequest(f"part {index} is missing: the parts must be numbered 1, 2, ... without gaps")
            if index < len(parts) and part_size < self.policy.min_part_size:
                raise BadRequest(
                    f"part {number} holds {part_size} bytes; every part but the last needs at least "
                    f"{self.policy.min_part_size}"
                )
        if total < size:
            raise BadRequest(f"S3 holds {total} of the {size} declared bytes: upload the missing parts first")

    async def _refuse(self, upload: Upload, upload_id: str) -> None:
        """An upload that broke its declared size is removed whole; nothing is handed on."""
        terminater = self.service.stores.terminater
        if terminater is not None:
            await terminater.as_terminatable_upload(upload).terminate("terminated")
            await self.service.catalogue.terminated(upload_id)
        log.warning("direct_upload_refused", upload_id=upload_id, reason="more bytes than declared")

    async def abort(self, owner: str, upload_id: str, key: str) -> None:
        service = self.service
        terminater = service.stores.terminater
        if terminater is None:
            raise Forbidden("this store cannot abort uploads")
        async with service.locker.lock(upload_id, timeout=service.limits.lock_timeout):
            upload, info = await self._find(owner, upload_id, key)
            if info.state.finished:
                raise Forbidden("the upload is complete: delete it with DELETE on its tus URL")
            await terminater.as_terminatable_upload(upload).terminate("terminated")
            await service.catalogue.terminated(upload_id)
            service.observer.upload_terminated()
            log.info("direct_upload_aborted", upload_id=upload_id)

    # -- the background sweep of single uploads ------------------------------------------------
    async def settle_singles(self) -> int:
        """Finish the single uploads (``/s3/params``) whose object arrived: Uppy's plugin never calls
        back after one. Multipart uploads wait for their client's completion (or their expiry)."""
        lister, settled = self.service.stores.lister, 0
        if lister is None:
            return 0
        async for upload_id in lister.list_upload_ids():
            try:
                info = await (await self.service.store.get_upload(upload_id)).get_info()
                if info.storage.get("direct") != "single" or info.state.finished:
                    continue
                if info.is_complete or await self.storage.stored_size(upload_id) is not None:
                    async with self.service.locker.lock(upload_id, timeout=1.0):
                        upload = await self.service.store.get_upload(upload_id)
                        await self._settle(upload, await upload.get_info(), asked=False)
                        settled += 1
            except TusError as exc:  # busy, gone, refused, storage trouble: the next round
                log.debug("direct_settle_skipped", upload_id=upload_id, error=exc.message)
        return settled

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                await self.settle_singles()
            except Exception:
                log.exception("direct_settle_crashed")
            await asyncio.sleep(interval)
