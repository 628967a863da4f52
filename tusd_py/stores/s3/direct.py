"""Direct uploads on the S3 store: the client sends the bytes to presigned URLs, the server signs.

A direct upload is an upload of this store like a tus one: the same ``<key>.info`` object, the same
record in Redis (or memory), the same key (``TUSD_S3_PREFIX`` + upload id, chosen by the server).
Only the bytes arrive another way: parts PUT by the client straight to the multipart upload
(``direct`` = 'multipart'), or one POST of the whole object through a presigned form policy
(``direct`` = 'single'). Once the client
says it is done, ``adopt`` writes the parts S3 lists into the record, and the store's own
``finish`` completes the multipart upload and checks the object's size, so HEAD, GET, processing,
expiry and the rebuild from S3 treat it as any other upload. ``S3Upload.write_chunk`` refuses a
tus PATCH on a direct upload: its part numbers belong to the client.

Presigning is local (no request to S3). Every S3 call's error is translated here, at the edge,
by ``map_s3_errors``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

from ...protocol.errors import StorageUnavailable, UploadNotFound
from ...protocol.info import UploadInfo
from ...state.records import PartRecord, UploadRecord
from .client import map_s3_errors
from .recovery import load

if TYPE_CHECKING:
    from .store import S3Store

Part = tuple[int, int, str]
_PLAIN_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+", re.ASCII)  # goes out as an HTTP header: nothing else


class _Presigner(Protocol):
    async def generate_presigned_url(self, ClientMethod: str, Params: dict[str, Any], ExpiresIn: int) -> str: ...

    async def generate_presigned_post(
        self, Bucket: str, Key: str, Fields: dict[str, str], Conditions: list[Any], ExpiresIn: int
    ) -> dict[str, Any]: ...


def plain_content_type(value: str) -> str:
    """The content type if it is a plain ``type/subtype``, else "" (never sent to S3)."""
    return value if _PLAIN_TYPE.fullmatch(value) else ""


class S3DirectStorage:
    """``tusd_py.direct.ports.DirectStorage`` over an ``S3Store`` (its client, bucket and records)."""

    def __init__(self, store: S3Store, *, sse: str = "", kms_key_id: str = "") -> None:
        self.store = store
        self.sse: dict[str, str] = {}
        if sse:
            self.sse["ServerSideEncryption"] = sse
        if kms_key_id:
            self.sse["SSEKMSKeyId"] = kms_key_id

    @property
    def _presigner(self) -> _Presigner:
        return cast(_Presigner, self.store.bucket.client)

    async def create(self, info: UploadInfo, *, multipart: bool, content_type: str) -> None:
        bucket = self.store.bucket
        key = bucket.key(info.id)
        info.storage = {
            "type": "s3",
            "bucket": bucket.name,
            "key": key,
            "direct": "multipart" if multipart else "single",
        }
        record = UploadRecord(info, part_size=0)  # the client cuts the parts
        if multipart:
            extra: dict[str, str] = dict(self.sse)
            if plain := plain_content_type(content_type):
                extra["ContentType"] = plain
            async with map_s3_errors("CreateMultipartUpload"):
                created = await bucket.client.create_multipart_upload(Bucket=bucket.name, Key=key, **extra)
            record.multipart_id = str(created["UploadId"])
        await bucket.put_info(record)
        await bucket.records.put(record, [])

    async def sign_parts(self, upload_id: str, numbers: list[int], ttl: int) -> dict[int, str]:
        bucket = self.store.bucket
        record = await load(bucket, upload_id)
        if not record.multipart_id:
            raise UploadNotFound(f"upload {upload_id} has no multipart upload")
        urls: dict[int, str] = {}
        async with map_s3_errors("PresignUploadPart"):
            for number in numbers:
                params: dict[str, Any] = {
                    "Bucket": bucket.name,
                    "Key": bucket.key(upload_id),
                    "UploadId": record.multipart_id,
                    "PartNumber": number,
                }
                urls[number] = await self._presigner.generate_presigned_url("upload_part", Params=params, ExpiresIn=ttl)
        return urls

    async def sign_post(self, upload_id: str, *, size: int, content_type: str, ttl: int) -> tuple[str, dict[str, str]]:
        """A presigned POST policy (Companion's ``/s3/params`` answer, the form Uppy sends): the key,
        the type and the server-side encryption are fixed fields, and S3 itself refuses a file of
        any other size than ``size`` (``content-length-range``)."""
        bucket = self.store.bucket
        fields: dict[str, str] = {"success_action_status": "201"}
        if plain := plain_content_type(content_type):
            fields["Content-Type"] = plain
        if self.sse:
            fields["x-amz-server-side-encryption"] = self.sse["ServerSideEncryption"]
            if "SSEKMSKeyId" in self.sse:
                fields["x-amz-server-side-encryption-aws-kms-key-id"] = self.sse["SSEKMSKeyId"]
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", size, size])
        async with map_s3_errors("PresignPostObject"):
            post = await self._presigner.generate_presigned_post(
                Bucket=bucket.name, Key=bucket.key(upload_id), Fields=fields, Conditions=conditions, ExpiresIn=ttl
            )
        return str(post["url"]), {str(k): str(v) for k, v in post["fields"].items()}

    async def parts(self, upload_id: str) -> list[Part] | None:
        record = await load(self.store.bucket, upload_id)
        if not record.multipart_id:
            return None
        listed = await self.store.bucket.list_parts(upload_id, record.multipart_id)
        return None if listed is None else [(p.number, p.size, p.etag) for p in listed]

    async def stored_size(self, upload_id: str) -> int | None:
        bucket = self.store.bucket
        return await bucket.object_size(bucket.key(upload_id))

    async def adopt(self, upload_id: str, parts: list[Part], size: int) -> None:
        bucket = self.store.bucket
        record = await load(bucket, upload_id)
        add = [PartRecord(number, part_size, etag) for number, part_size, etag in parts]
        if not await bucket.records.commit(upload_id, expect=record.parts, keep=0, add=add, tail=0, offset=size):
            raise StorageUnavailable(f"the record of upload {upload_id} changed meanwhile; retry")


def check_origin(value: str) -> str:
    """A page origin as browsers send it: scheme, host and port only (ValueError otherwise)."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an origin like https://app.example.com (no path)")
    if parts.username is not None or not value.isprintable() or " " in value:
        raise ValueError(f"{value!r} is not an origin like https://app.example.com")
    return value


async def apply_cors(client: Any, bucket: str, origins: list[str], *, max_age: int = 3000) -> dict[str, Any]:
    """Replace the bucket's CORS configuration with the one rule direct uploads need: PUT (parts)
    and POST (single uploads) from ``origins``, any request header, ``ETag`` readable by the page
    (the client sends each part's ETag back). Returns the configuration applied."""
    rule = {
        "AllowedOrigins": origins,
        "AllowedMethods": ["PUT", "POST"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": max_age,
    }
    config = {"CORSRules": [rule]}
    async with map_s3_errors("PutBucketCors"):
        await client.put_bucket_cors(Bucket=bucket, CORSConfiguration=config)
    return config
