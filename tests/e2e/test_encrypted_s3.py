"""The production shape, end to end: S3 store (moto over HTTP), Redis records, the arq worker,
data keys wrapped by AWS KMS (moto's KMS). Nothing readable lands in the bucket or on disk,
segments are 302 redirects to presigned S3 URLs, PyAV plays the signed HLS, and the tus URL
keeps answering HEAD and GET after the plaintext upload is deleted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import m3u8
import pytest
import redis.asyncio

from pipeline.crypto.keys import KeyConfigError
from pipeline.crypto.segments import decrypt_segment, segment_iv
from tests.e2e.encrypted_support import (
    TUS,
    containing,
    decode_hls,
    files_under,
    find_plaintext,
    make_marked_clip,
    tus_upload,
    wait_ready,
)
from tusd_py.app import create_app
from tusd_py.settings import Settings
from tusd_py.state import keyspace
from tusd_py.state.memory import MemoryLocker
from tusd_py.worker import create_worker

AWS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def s3_settings(tmp_path: Path, moto_endpoint: str, bucket: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": moto_endpoint,
        "s3_path_style": True,
        **extra,
    }
    return Settings.from_flat(**values)


@pytest.fixture
def kms_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    arn = boto3.client("kms", endpoint_url=moto_endpoint, **AWS).create_key(Description="tusd-e2e")["KeyMetadata"][
        "Arn"
    ]
    for name, value in {
        "TUSD_KEK_PROVIDER": "kms",
        "TUSD_KMS_KEY_ID": arn,
        "TUSD_KMS_ENDPOINT_URL": moto_endpoint,
        "TUSD_URL_SIGNING_SECRET": uuid.uuid4().hex,
        "TUSD_LADDER_HEIGHTS": "240,144",
        "TUSD_X264_PRESET": "ultrafast",
        "TUSD_THUMBNAIL_COUNT": "2",
        "TUSD_SEGMENT_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return arn


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def bucket_objects(moto_endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, **AWS)
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    return {f"s3://{key}": s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_production_refuses_to_start_without_a_key(tmp_path: Path, moto_endpoint: str, s3_bucket: str) -> None:
    with pytest.raises(KeyConfigError, match="TUSD_MASTER_KEY"):
        create_app(s3_settings(tmp_path, moto_endpoint, s3_bucket), background=False)
    assert not (tmp_path / "data" / "keys").exists()  # and nothing was created behind the operator's back


async def test_s3_redis_kms_worker_end_to_end(
    kms_env: str,
    aiohttp_server: Any,
    session: aiohttp.ClientSession,
    moto_endpoint: str,
    s3_bucket: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    settings = s3_settings(tmp_path, moto_endpoint, s3_bucket, redis_url=redis_url)
    server = await aiohttp_server(create_app(settings, locker=MemoryLocker()))
    base = str(server.make_url("")).rstrip("/")
    marker = f"MARKER-{uuid.uuid4().hex}"
    source = make_marked_clip(tmp_path / "marked.mp4", marker).read_bytes()
    upload_id = await tus_upload(session, base, source, filename="marked.mp4", uploadedBy="dana")
    worker = create_worker(settings, burst=True, poll_delay=0, handle_signals=False)
    try:
        await worker.main()
        assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    finally:
        await worker.close()
    body = await wait_ready(session, base, upload_id, timeout=10)
    plaintext = {"source": source}
    async with session.get(body["playback_url"]) as resp:
        master = m3u8.loads(await resp.text())
    for index, variant in enumerate(master.playlists):
        async with session.get(base + variant.uri) as resp:
            media = m3u8.loads(await resp.text())
        async with session.get(base + media.keys[0].uri) as resp:
            key = await resp.read()
        for number, segment in enumerate(media.segments):
            async with session.get(base + segment.uri, allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"].startswith(moto_endpoint)
                presigned = resp.headers["Location"]
            async with session.get(presigned) as resp:
                assert resp.status == 200
                cipher = await resp.read()
            plaintext[f"{index}/{number}"] = decrypt_segment(cipher, key, segment_iv(number, stream=index + 1))
    for name in ("poster_url", "original_url"):
        async with session.get(body[name]) as resp:
            assert resp.status == 200
            plaintext[name] = await resp.read()
    assert plaintext["original_url"] == source
    stored = {**bucket_objects(moto_endpoint, s3_bucket), **files_under(tmp_path / "data")}
    assert f"s3://{upload_id}" not in stored and f"s3://{upload_id}.info" in stored  # the plaintext upload is gone
    assert any(name.endswith("/original") for name in stored)
    assert containing(stored, marker.encode()) == []
    assert find_plaintext(stored, plaintext) == []
    async with session.head(f"{base}/files/{upload_id}", headers=TUS) as head:
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(source))
    async with session.get(f"{base}/files/{upload_id}", headers={"Range": "bytes=100-1099"}) as resp:
        assert resp.status == 206 and await resp.read() == source[100:1100]
    # Redis loses the upload's record: it is rebuilt from S3 (.info says handed off), still complete
    flush = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await flush.delete(keyspace.upload_key(upload_id), keyspace.parts_key(upload_id)) >= 1
    finally:
        await flush.aclose()
    async with session.head(f"{base}/files/{upload_id}", headers=TUS) as head:
        assert head.status == 200, head.status
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(source))
    streams = await asyncio.to_thread(decode_hls, body["playback_url"])  # follows the redirects to S3
    assert sorted((w, h) for _, w, h in streams.values()) == [(192, 144), (320, 240)]
    assert all(frames >= 40 for frames, _, _ in streams.values())
