"""Where processing outputs are stored: the same storage layer as uploads.

``FileAssetStore`` keeps them under ``data_dir/media/`` (the embedded default) and
``S3AssetStore`` under the bucket's ``media/`` prefix. Keys are full storage keys that start
with ``media/`` (``contract.MEDIA_PREFIX``), so a key names the same object in both stores.
Only ``publish.py`` writes here.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import shutil
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .contract import MEDIA_PREFIX
from .errors import StorageError, StorageUnavailable

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}


MULTIPART_THRESHOLD = 16 * 1024 * 1024  # S3 put_file: larger files go up in parts (memory stays flat)
PART_SIZE = 8 * 1024 * 1024

Location = tuple[Literal["file", "url"], str]


class AssetNotFound(KeyError):
    """No object under that key."""


def content_type(key: str) -> str:
    suffix = os.path.splitext(key)[1].lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def _check(key: str) -> str:
    parts = key.split("/")
    if not key.startswith(MEDIA_PREFIX) or any(p in ("", ".", "..") for p in parts[:-1]) or "\\" in key:
        raise ValueError(f"bad asset key {key!r}")
    return key


class AssetStore(Protocol):
    async def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Store the file at ``path`` under ``key``; a reader never sees a partial object."""

    async def put_bytes(self, key: str, data: bytes) -> None: ...

    async def get_bytes(self, key: str) -> bytes:
        """The whole object; AssetNotFound if absent."""

    async def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive); AssetNotFound if absent."""

    async def size(self, key: str) -> int:
        """The stored object's size in bytes; AssetNotFound if absent."""

    async def locate(self, key: str, *, ttl: int) -> Location:
        """Where a client can fetch the stored bytes without us: ("file", path) to send from
        disk, or ("url", presigned URL valid ``ttl`` seconds). Nothing is checked to exist."""

    async def list(self, prefix: str) -> list[str]:
        """Every key below ``prefix``, sorted."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key below ``prefix``; return how many."""


class FileAssetStore:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir)
        (self.root / MEDIA_PREFIX).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / _check(key)

    @staticmethod
    def _install(src: Path | None, data: bytes | None, dest: Path) -> None:
        """Write next to the target, then rename: the object appears whole or not at all."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        if src is not None:
            shutil.copyfile(src, tmp)
        else:
            tmp.write_bytes(data or b"")
        os.replace(tmp, dest)

    async def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        await asyncio.to_thread(self._install, Path(path), None, self.path(key))

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._install, None, data, self.path(key))

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            raise AssetNotFound(key) from None

    async def read_range(self, key: str, start: int, end: int) -> bytes:
        def read() -> bytes:
            with open(self.path(key), "rb") as f:
                f.seek(start)
                return f.read(max(end - start, 0))

        try:
            return await asyncio.to_thread(read)
        except FileNotFoundError:
            raise AssetNotFound(key) from None

    async def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise AssetNotFound(key) from None

    async def locate(self, key: str, *, ttl: int) -> Location:
        return "file", str(self.path(key))

    async def list(self, prefix: str) -> list[str]:
        base = self.root / _check(prefix + "_").rsplit("/", 1)[0]  # the folder the prefix is in

        def walk() -> list[str]:
            if not base.is_dir():
                return []
            keys = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
            return sorted(k for k in keys if k.startswith(prefix) and not k.endswith(".tmp"))

        return await asyncio.to_thread(walk)

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list(prefix)
        for key in keys:
            self.path(key).unlink(missing_ok=True)
        base = self.root / _check(prefix + "_")[:-1]
        if prefix.endswith("/") and base.is_dir():
            await asyncio.to_thread(shutil.rmtree, base, True)  # also temp files of a killed writer
        return len(keys)


def s3_errors(operation: str, key: str) -> AbstractAsyncContextManager[None]:
    """Translate the S3 SDK's errors raised inside the block into the pipeline's, by their
    fault (``s3errors``): MISSING -> ``AssetNotFound``, TRANSIENT -> ``StorageUnavailable``
    (the job retries), FAILED -> ``StorageError``."""
    from .s3errors import translate_s3_errors  # botocore loads with the S3 asset store only

    return translate_s3_errors(
        operation, missing=lambda _: AssetNotFound(key), transient=StorageUnavailable, failed=StorageError
    )


class S3AssetStore:
    """Assets in a bucket. ``client`` is an aiobotocore S3 client (opened by the caller); SDK
    errors become the pipeline's own (``s3_errors``)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def put_bytes(self, key: str, data: bytes) -> None:
        async with s3_errors("PutObject", key):  # a PutObject is atomic: whole or absent
            await self.client.put_object(Bucket=self.bucket, Key=_check(key), Body=data, ContentType=content_type(key))

    async def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        if os.stat(path).st_size <= MULTIPART_THRESHOLD:
            await self.put_bytes(key, await asyncio.to_thread(Path(path).read_bytes))
        else:
            await self._put_parts(_check(key), Path(path))

    async def _put_parts(self, key: str, path: Path) -> None:
        """A multipart upload, one part in memory at a time; aborted on any failure."""
        async with s3_errors("CreateMultipartUpload", key):
            created = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type(key)
            )
        upload_id, parts = created["UploadId"], list[dict[str, Any]]()
        try:
            with open(path, "rb") as f:  # noqa: ASYNC230 (reads go to a thread)
                while data := await asyncio.to_thread(f.read, PART_SIZE):
                    async with s3_errors("UploadPart", key):
                        resp = await self.client.upload_part(
                            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=len(parts) + 1, Body=data
                        )
                    parts.append({"PartNumber": len(parts) + 1, "ETag": resp["ETag"]})
            async with s3_errors("CompleteMultipartUpload", key):
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # best effort: a bucket lifecycle rule sweeps what is left
            pass

    async def size(self, key: str) -> int:
        async with s3_errors("HeadObject", key):
            head = await self.client.head_object(Bucket=self.bucket, Key=_check(key))
        return int(head["ContentLength"])

    async def locate(self, key: str, *, ttl: int) -> Location:
        params = {"Bucket": self.bucket, "Key": _check(key)}
        url: str = await self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        return "url", url

    async def _get(self, key: str, byte_range: str | None = None) -> bytes:
        extra = {"Range": byte_range} if byte_range else {}
        async with s3_errors("GetObject", key):
            resp = await self.client.get_object(Bucket=self.bucket, Key=_check(key), **extra)
            async with resp["Body"] as stream:
                data: bytes = await stream.read()
        return data

    async def get_bytes(self, key: str) -> bytes:
        return await self._get(key)

    async def read_range(self, key: str, start: int, end: int) -> bytes:
        return await self._get(key, f"bytes={start}-{end - 1}") if end > start else b""

    async def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            async with s3_errors("ListObjectsV2", prefix):
                page = await self.client.list_objects_v2(Bucket=self.bucket, Prefix=_check(prefix + "_")[:-1], **token)
            keys += [str(obj["Key"]) for obj in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list(_check(prefix + "_")[:-1])
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            async with s3_errors("DeleteObjects", prefix):
                await self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)


if TYPE_CHECKING:
    _file: type[AssetStore] = FileAssetStore
    _s3: type[AssetStore] = S3AssetStore
