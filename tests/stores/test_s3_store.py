"""S3Store against moto's S3 server over HTTP, with records in a private redis-server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import redis.asyncio
from aiobotocore.awsrequest import AioAWSResponse
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff
from yarl import URL

from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE, free_port
from tusd_py.core.service import Limits, UploadService
from tusd_py.protocol.errors import StorageUnavailable, TusError, UploadGone, UploadSizeExceeded
from tusd_py.protocol.headers import Metadata
from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.state.memory import MemoryLocker
from tusd_py.state.records import RedisUploadRecords
from tusd_py.stores.s3 import S3Config, S3Store
from tusd_py.stores.s3.client import open_client
from tusd_py.stores.s3.parts import MiB, PartPolicy

KiB = 1024
SMALL = PartPolicy(preferred=512 * KiB, min_size=MOTO_MIN_PART_SIZE, max_size=64 * MiB)


class Chunks:
    """A request body: ``data`` in ``size``-byte chunks; optionally a protocol violation after ``fail_at``."""

    def __init__(self, data: bytes, size: int = 64 * KiB, *, fail_at: int | None = None) -> None:
        self.data, self.size, self.fail_at = data, size, fail_at

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for pos in range(0, len(self.data), self.size):
            if self.fail_at is not None and pos >= self.fail_at:
                raise UploadSizeExceeded("too many bytes")
            yield self.data[pos : pos + self.size]


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self) -> bytes:
        return self.data


class Recording:
    """Wraps the real client: records calls, and answers chosen UploadPart attempts with 503
    SlowDown on the wire, below botocore's retries (a ``before-send`` hook)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_parts: dict[int, int] = {}  # part number -> failing attempts left
        self.sent: list[tuple[int, int]] = []  # (part number, bytes) of every UploadPart call
        self.attempts: list[int] = []  # part number of every UploadPart attempt on the wire
        inner.meta.events.register("before-send.s3.UploadPart", self._fault)

    def _fault(self, request: Any, **_: Any) -> AioAWSResponse | None:
        number = int(parse_qs(urlsplit(request.url).query)["partNumber"][0])
        self.attempts.append(number)
        if self.fail_parts.get(number, 0) <= 0:
            return None
        self.fail_parts[number] -= 1
        body = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
        return AioAWSResponse(request.url, 503, {}, _Body(body))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name in ("get_paginator", "meta"):
            return method

        async def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name == "upload_part":
                self.sent.append((kwargs["PartNumber"], len(kwargs["Body"])))  # before the body is read
            return await method(**kwargs)

        return call

    def part_sizes(self) -> list[tuple[int, int]]:
        return list(self.sent)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ATTEMPTS = 3  # per S3 call in these tests


@pytest.fixture
async def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recording]:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.001)  # no waiting
    async with open_client(endpoint_url=moto_endpoint, path_style=True, attempts=ATTEMPTS) as client:
        yield Recording(client)


@pytest.fixture
async def rclient(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def make_store(s3: Recording, s3_bucket: str, rclient: redis.asyncio.Redis) -> Callable[..., S3Store]:
    def make(policy: PartPolicy = SMALL, **config: Any) -> S3Store:
        options: dict[str, Any] = {"expiry_seconds": 60.0}
        options.update(config)
        return S3Store(S3Config(bucket=s3_bucket, policy=policy, **options), RedisUploadRecords(rclient), s3)

    return make


class Sink:
    def __init__(self) -> None:
        self.finished: list[str] = []

    async def upload_finished(self, info: UploadInfo) -> None:
        self.finished.append(info.id)


def bucket_keys(moto_endpoint: str, bucket: str) -> tuple[list[str], int]:
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return sorted(keys), len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


async def get_object(store: S3Store, upload_id: str) -> bytes:
    resp = await store.client.get_object(Bucket=store.config.bucket, Key=store.bucket.key(upload_id))
    async with resp["Body"] as stream:
        data: bytes = await stream.read()
        return data


async def patch_all(store: S3Store, upload_id: str, data: bytes, sizes: list[int]) -> None:
    upload = await store.get_upload(upload_id)
    offset = (await upload.get_info()).offset
    for size in sizes:
        offset += await upload.write_chunk(offset, Chunks(data[offset : offset + size]))
    assert offset == len(data)


async def test_one_mib_patches_complete_without_any_small_part(
    make_store: Callable[..., S3Store], s3: Recording
) -> None:
    store = make_store(PartPolicy())  # production sizes: 5 MiB minimum, 16 MiB preferred
    data = os.urandom(12 * MiB + 7)
    upload = await store.create_upload(UploadInfo(id="mib", size=len(data)))
    await patch_all(store, "mib", data, [MiB] * 13)
    listed = await store.bucket.list_parts("mib", (await store.load("mib")).multipart_id)
    assert listed is not None and [p.size for p in listed] == [5 * MiB, 5 * MiB, 2 * MiB + 7]
    sizes = [size for _, size in s3.part_sizes()]
    assert all(size >= 5 * MiB for size in sizes[:-1])
    await upload.finish()
    assert sha(await get_object(store, "mib")) == sha(data)


async def test_many_interrupted_patches_stay_within_the_part_budget(make_store: Callable[..., S3Store]) -> None:
    policy = PartPolicy(preferred=MOTO_MIN_PART_SIZE, min_size=MOTO_MIN_PART_SIZE, max_size=64 * MiB, max_parts=16)
    store = make_store(policy)
    data = os.urandom(3 * MiB + 1)
    upload = await store.create_upload(UploadInfo(id="budget", size=len(data)))
    rng = random.Random(3)
    sizes = [rng.randint(40 * KiB, 330 * KiB) for _ in range(80)]
    sizes.append(len(data) - sum(sizes) % len(data))
    offset = 0
    for size in sizes:
        if offset == len(data):
            break
        offset += await upload.write_chunk(offset, Chunks(data[offset : offset + size]))
    while offset < len(data):
        offset += await upload.write_chunk(offset, Chunks(data[offset:]))
    record = await store.load("budget")
    assert record.parts <= policy.max_parts
    await upload.finish()
    assert sha(await get_object(store, "budget")) == sha(data)


async def test_a_transient_part_failure_is_retried(make_store: Callable[..., S3Store], s3: Recording) -> None:
    store = make_store()
    data = os.urandom(2 * MiB)
    upload = await store.create_upload(UploadInfo(id="retry", size=len(data)))
    s3.fail_parts = {2: ATTEMPTS - 1}  # botocore retries part 2 under its number, then it succeeds
    assert await upload.write_chunk(0, Chunks(data)) == len(data)
    assert s3.attempts.count(2) == ATTEMPTS
    assert [n for n, _ in s3.part_sizes()].count(2) == 1  # one call: the retries are botocore's
    await upload.finish()
    assert sha(await get_object(store, "retry")) == sha(data)


async def test_a_failed_part_never_leaves_a_hole(
    make_store: Callable[..., S3Store], s3: Recording, rclient: redis.asyncio.Redis
) -> None:
    store = make_store()
    data = os.urandom(3 * MiB + 11)
    upload = await store.create_upload(UploadInfo(id="hole", size=len(data)))
    s3.fail_parts = {2: ATTEMPTS}  # part 2 fails every attempt of this request; parts 3.. may succeed
    with pytest.raises(StorageUnavailable):
        await upload.write_chunk(0, Chunks(data))
    assert (await upload.get_info()).offset == 512 * KiB  # only part 1: the contiguous run
    await rclient.flushall()  # and S3 alone agrees: the checkpoint trusts part 1 only
    assert (await upload.get_info()).offset == 512 * KiB
    await patch_all(store, "hole", data, [len(data)])
    await upload.finish()
    assert sha(await get_object(store, "hole")) == sha(data)


async def test_flushall_mid_upload_rebuilds_the_offset_from_s3(
    make_store: Callable[..., S3Store], s3: Recording, rclient: redis.asyncio.Redis
) -> None:
    store = make_store()
    sink = Sink()
    service = UploadService(store, MemoryLocker(), sink, Limits(expiry_seconds=60))
    data = os.urandom(2 * MiB + 5)
    upload, info = await service.create(length=len(data), metadata=Metadata())
    offset = 0
    for size in (700 * KiB, 100 * KiB, 300 * KiB):  # a short part, then a tail of 400 KiB
        offset += await upload.write_chunk(offset, Chunks(data[offset : offset + size]))
    s3.calls.clear()
    assert (await service.head(info.id)).offset == offset
    assert s3.calls == []  # HEAD is answered from Redis alone
    await rclient.flushall()
    assert (await service.head(info.id)).offset == offset  # parts + tail, rebuilt from S3
    offset += await upload.write_chunk(offset, Chunks(data[offset:]))
    assert (await service.head(info.id)).state is UploadState.HANDED_OFF
    assert sink.finished == [info.id]
    assert sha(await get_object(store, info.id)) == sha(data)
    await rclient.flushall()  # a rebuilt completed upload is not handed off again
    assert (await service.head(info.id)).offset == len(data)
    assert sink.finished == [info.id]


class Hanging(Chunks):
    """Sends ``data`` then never ends: the request is cut by a cancellation (a dying server)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in super().__aiter__():
            yield chunk
        await asyncio.Event().wait()


async def test_a_cancelled_request_keeps_and_checkpoints_what_s3_acknowledged(
    make_store: Callable[..., S3Store], rclient: redis.asyncio.Redis
) -> None:
    store = make_store()
    data = os.urandom(3 * MiB)
    upload = await store.create_upload(UploadInfo(id="cut", size=len(data)))
    await upload.write_chunk(0, Chunks(data[: 700 * KiB]))
    task = asyncio.create_task(upload.write_chunk(700 * KiB, Hanging(data[700 * KiB : 2 * MiB])))
    for _ in range(200):
        await asyncio.sleep(0.02)
        if (await store.records.get("cut")).parts >= 3:  # type: ignore[union-attr]
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = (await upload.get_info()).offset
    assert 700 * KiB < kept <= 2 * MiB
    await rclient.flushall()
    assert (await upload.get_info()).offset == kept  # the salvage wrote a checkpoint
    await patch_all(store, "cut", data, [len(data)])
    await upload.finish()
    assert sha(await get_object(store, "cut")) == sha(data)


async def test_parts_above_the_checkpoint_are_not_trusted_after_a_flush(
    make_store: Callable[..., S3Store], s3: Recording, rclient: redis.asyncio.Redis
) -> None:
    """The aftermath of kill -9: a request sent parts 2 and 3 but died before its checkpoint."""
    store = make_store()
    data = os.urandom(3 * MiB)
    upload = await store.create_upload(UploadInfo(id="killed", size=len(data)))
    await upload.write_chunk(0, Chunks(data[: 700 * KiB]))  # checkpoint: 1 part + 188 KiB tail
    record = await store.load("killed")
    for number, first in ((2, 600 * KiB), (3, 1112 * KiB)):  # other boundaries than a resume will use
        await s3.upload_part(
            Bucket=store.config.bucket,
            Key="killed",
            UploadId=record.multipart_id,
            PartNumber=number,
            Body=data[first : first + 512 * KiB],
        )
    await rclient.flushall()
    assert (await upload.get_info()).offset == 700 * KiB
    await patch_all(store, "killed", data, [100 * KiB, len(data)])
    await upload.finish()
    assert sha(await get_object(store, "killed")) == sha(data)


async def test_a_protocol_violation_rolls_the_whole_request_back(make_store: Callable[..., S3Store]) -> None:
    store = make_store()
    data = os.urandom(3 * MiB)
    upload = await store.create_upload(UploadInfo(id="undo", size=len(data)))
    await upload.write_chunk(0, Chunks(data[: 200 * KiB]))  # below the minimum part size: a tail only
    with pytest.raises(UploadSizeExceeded):
        await upload.write_chunk(200 * KiB, Chunks(data[200 * KiB :], fail_at=2 * MiB))
    record = await store.load("undo")
    assert (record.info.offset, record.parts, record.tail) == (200 * KiB, 0, 200 * KiB)
    await patch_all(store, "undo", data, [len(data)])
    await upload.finish()
    assert sha(await get_object(store, "undo")) == sha(data)


async def test_zero_length_upload_is_a_real_empty_object(
    make_store: Callable[..., S3Store], moto_endpoint: str, s3_bucket: str
) -> None:
    store = make_store()
    service = UploadService(store, MemoryLocker(), Sink(), Limits())
    _, info = await service.create(length=0, metadata=Metadata())
    assert info.state is UploadState.HANDED_OFF
    keys, multiparts = bucket_keys(moto_endpoint, s3_bucket)
    assert keys == sorted([info.id, f"{info.id}.info"]) and multiparts == 0
    assert await get_object(store, info.id) == b""


async def _partials(store: S3Store, blobs: list[bytes]) -> list[Any]:
    uploads = []
    for i, blob in enumerate(blobs):
        upload = await store.create_upload(UploadInfo(id=f"p{i}", size=len(blob), is_partial=True))
        if blob:
            await upload.write_chunk(0, Chunks(blob))
        await upload.finish()
        uploads.append(upload)
    return uploads


@pytest.mark.parametrize(
    ("sizes", "copied"),
    [
        ([600 * KiB, 300 * KiB, 0, 10], True),  # every non-last partial >= the minimum: UploadPartCopy
        ([600 * KiB, 100 * KiB, 300 * KiB], False),  # a small partial in the middle: re-upload
        ([1300 * KiB, 5], True),  # above the (test) 512 KiB part maximum: split copies
    ],
)
async def test_concat(make_store: Callable[..., S3Store], s3: Recording, sizes: list[int], copied: bool) -> None:
    policy = (
        SMALL if sizes[0] < MiB else PartPolicy(preferred=300 * KiB, min_size=MOTO_MIN_PART_SIZE, max_size=512 * KiB)
    )
    store = make_store(policy)
    blobs = [os.urandom(n) for n in sizes]
    partials = await _partials(store, blobs)
    s3.calls.clear()
    final = await store.create_upload(UploadInfo(id="final", size=sum(sizes), is_final=True))
    await store.concat(final, partials)
    assert (await final.get_info()).offset == sum(sizes)
    await final.finish()
    assert sha(await get_object(store, "final")) == sha(b"".join(blobs))
    assert ("upload_part_copy" in s3.names()) is copied
    assert ("upload_part" in s3.names()) is not copied
    if sizes[0] > MiB:
        ranges = [kw.get("CopySourceRange") for name, kw in s3.calls if name == "upload_part_copy"]
        assert ranges == ["bytes=0-443733", "bytes=443734-887467", "bytes=887468-1331199", None]


async def test_terminate_removes_every_object_and_leaves_a_tombstone(
    make_store: Callable[..., S3Store], moto_endpoint: str, s3_bucket: str
) -> None:
    store = make_store()
    data = os.urandom(MiB)
    upload = await store.create_upload(UploadInfo(id="gone", size=2 * len(data)))
    await upload.write_chunk(0, Chunks(data[: 700 * KiB]))  # a part and a tail object
    keys, multiparts = bucket_keys(moto_endpoint, s3_bucket)
    assert keys == ["gone.info", "gone.part"] and multiparts == 1
    await upload.terminate("terminated")
    assert bucket_keys(moto_endpoint, s3_bucket) == ([], 0)
    with pytest.raises(UploadGone):
        await store.get_upload("gone")
    done = await store.create_upload(UploadInfo(id="done", size=len(data)))
    await done.write_chunk(0, Chunks(data))
    await done.finish()
    await done.terminate("expired")
    assert bucket_keys(moto_endpoint, s3_bucket) == ([], 0)


async def test_deferred_length_declared_after_the_last_bytes(make_store: Callable[..., S3Store]) -> None:
    store = make_store()
    data = os.urandom(600 * KiB)
    upload = await store.create_upload(UploadInfo(id="defer", size=None))
    assert await upload.write_chunk(0, Chunks(data)) == len(data)
    await upload.declare_length(len(data))
    assert (await store.load("defer")).tail > 0  # the last bytes sit in the tail object
    await upload.finish()
    await upload.finish()  # idempotent
    assert sha(await get_object(store, "defer")) == sha(data)
    assert b"".join([c async for c in upload.read(100, 200)]) == data[100:200]


async def test_finish_retried_after_the_object_was_assembled(make_store: Callable[..., S3Store]) -> None:
    store = make_store()
    data = os.urandom(300 * KiB)
    upload = await store.create_upload(UploadInfo(id="again", size=len(data)))
    await upload.write_chunk(0, Chunks(data))
    await upload.set_state(UploadState.COMPLETING)
    await upload.finish()  # completes the multipart upload...
    await upload.finish()  # ...and again while the state still says completing: NoSuchUpload, size checked
    assert (await get_object(store, "again")) == data


async def test_list_upload_ids_falls_back_to_s3_when_redis_is_empty(
    make_store: Callable[..., S3Store], rclient: redis.asyncio.Redis
) -> None:
    store = make_store()
    for name in ("a1", "a2"):
        await store.create_upload(UploadInfo(id=name, size=10))
    assert {i async for i in store.list_upload_ids()} == {"a1", "a2"}
    await rclient.flushall()
    assert {i async for i in store.list_upload_ids()} == {"a1", "a2"}


async def test_unreachable_s3_is_503_not_4xx(s3_bucket: str, rclient: redis.asyncio.Redis) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with open_client(endpoint_url=dead, path_style=True) as client:
        store = S3Store(S3Config(bucket=s3_bucket), RedisUploadRecords(rclient), client)
        with pytest.raises(StorageUnavailable) as caught:
            await store.create_upload(UploadInfo(id="x", size=10))
        assert caught.value.status == 503
        with pytest.raises(StorageUnavailable):
            await store.get_upload("not-in-redis")  # a rebuild needs S3


async def test_s3_errors_map_to_protocol_errors() -> None:
    from tusd_py.protocol.errors import UploadNotFound
    from tusd_py.stores.s3.client import map_s3_errors

    def error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")  # type: ignore[arg-type]

    cases: list[tuple[ClientError, type[TusError], int]] = [
        (error("NoSuchUpload", 404), UploadNotFound, 404),
        (error("NoSuchKey", 404), UploadNotFound, 404),
        (error("SlowDown", 503), StorageUnavailable, 503),
        (error("InternalError", 500), StorageUnavailable, 503),
        (error("RequestTimeout", 400), StorageUnavailable, 503),
        (error("AccessDenied", 403), TusError, 500),
    ]
    for exc, expected, status in cases:
        with pytest.raises(expected) as caught:
            async with map_s3_errors("Op"):
                raise exc
        assert caught.value.status == status and caught.value.__cause__ is exc


# -- the whole HTTP app over S3 ----------------------------------------------------------------------
TUS = {"Tus-Resumable": "1.0.0"}
PATCH_HEADERS = {**TUS, "Content-Type": "application/offset+octet-stream"}


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3 server refuses to start without its master key; the HTTP tests give it one."""
    monkeypatch.setenv("TUSD_MASTER_KEY", os.urandom(32).hex())


def s3_settings(moto_endpoint: str, bucket: str, **extra: Any) -> dict[str, Any]:
    settings = {"store": "s3", "s3_bucket": bucket, "s3_endpoint_url": moto_endpoint, "s3_path_style": True}
    settings.update(extra)
    return settings


async def test_http_upload_download_and_delete_over_s3(
    make_client: Callable[..., Any], moto_endpoint: str, s3_bucket: str
) -> None:
    client = await make_client(**s3_settings(moto_endpoint, s3_bucket, s3_prefix="up/"))
    data = os.urandom(6 * MiB + 3)
    created = await client.post("/files/", headers={**TUS, "Upload-Length": str(len(data))})
    assert created.status == 201
    url = URL(created.headers["Location"]).path
    offset = 0
    for size in (2 * MiB, 2 * MiB, 4 * MiB):
        resp = await client.patch(
            url, data=data[offset : offset + size], headers={**PATCH_HEADERS, "Upload-Offset": str(offset)}
        )
        assert resp.status == 204, await resp.text()
        offset = int(resp.headers["Upload-Offset"])
        head = await client.head(url, headers=TUS)
        assert head.status == 200 and int(head.headers["Upload-Offset"]) == offset
    assert offset == len(data)
    download = await client.get(url, headers=TUS)
    assert download.status == 200 and sha(await download.read()) == sha(data)
    ranged = await client.get(url, headers={**TUS, "Range": "bytes=10-19"})
    assert ranged.status == 206 and await ranged.read() == data[10:20]
    keys, _ = bucket_keys(moto_endpoint, s3_bucket)
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    assert keys == [f"up/{upload_id}", f"up/{upload_id}.info"]
    assert (await client.delete(url, headers=TUS)).status == 204
    assert (await client.head(url, headers=TUS)).status == 410
    assert bucket_keys(moto_endpoint, s3_bucket) == ([], 0)


async def test_http_over_size_is_413_at_creation(
    make_client: Callable[..., Any], moto_endpoint: str, s3_bucket: str
) -> None:
    client = await make_client(**s3_settings(moto_endpoint, s3_bucket, max_size=0))  # 0: the store's ceiling
    too_big = 5 * 1024**4 + 1
    resp = await client.post("/files/", headers={**TUS, "Upload-Length": str(too_big)})
    assert resp.status == 413
    assert bucket_keys(moto_endpoint, s3_bucket) == ([], 0)  # nothing was created
    options = await client.options("/files/", headers=TUS)
    assert options.headers["Tus-Max-Size"] == str(5 * 1024**4)


async def test_http_unreachable_s3_is_503(make_client: Callable[..., Any], s3_bucket: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = await make_client(**s3_settings(dead, s3_bucket))
    resp = await client.post("/files/", headers={**TUS, "Upload-Length": "10"})
    assert resp.status == 503
