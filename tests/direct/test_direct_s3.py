"""Direct uploads against moto's S3 over HTTP, with Redis records and the arq worker: parallel
parts with a failed PUT retried, resume from the listed parts, an oversized upload refused at
completion with nothing handed on, and another user kept out."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import redis.asyncio

from tests.direct.client import MiB
from tests.direct.conftest import client_for
from tests.e2e.encrypted_support import make_marked_clip
from tusd_py.app import SWEEPER
from tusd_py.direct.routes import DIRECT
from tusd_py.settings import Settings
from tusd_py.state import keyspace
from tusd_py.worker import create_worker

TUS = {"Tus-Resumable": "1.0.0"}


async def run_worker(settings: Settings) -> tuple[int, int]:
    worker = create_worker(settings, burst=True, poll_delay=0, handle_signals=False)
    try:
        await worker.main()
        return worker.jobs_complete, worker.jobs_failed
    finally:
        await worker.close()


async def media_state(http: aiohttp.ClientSession, base: str, upload_id: str, **kw: Any) -> tuple[int, Any]:
    async with http.get(f"{base}/media/{upload_id}", **kw) as resp:
        return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())


async def queued_jobs(redis_url: str) -> int:
    conn = redis.asyncio.Redis.from_url(redis_url)
    try:
        return int(await conn.zcard("arq:queue"))
    finally:
        await conn.aclose()


async def test_40_mib_in_parallel_parts_with_a_retried_part_reaches_stored(
    direct_server: Any, http: aiohttp.ClientSession, redis_url: str
) -> None:
    server, settings = await direct_server()
    client = client_for(http, server, "alice", part_size=5 * MiB, parallel=4, fail_once={3})
    data = os.urandom(40 * MiB)
    created = await client.create(len(data), filename="blob.bin")
    upload_id, key = created["uploadId"], created["key"]
    assert key.endswith(upload_id)  # the server's key, not the client's file name
    etags = await client.upload_parts(upload_id, key, data, client.numbers(len(data)))
    assert sorted(client.puts) == [1, 2, 3, 3, 4, 5, 6, 7, 8]  # part 3 twice: broken off, then again
    status, body = await client.complete(upload_id, key, etags)
    assert status == 200, body
    assert body["location"].endswith(f"/files/{upload_id}") and body["size"] == len(data)
    again = await client.complete(upload_id, key, etags)  # a retried completion hands nothing on twice
    assert again[0] == 200
    assert await queued_jobs(redis_url) == 1
    assert await run_worker(settings) == (1, 0)
    base = client.base
    status, media = await media_state(http, base, upload_id, headers={"X-Test-User": "alice"})
    assert status == 200 and media["state"] == "stored", media
    async with http.get(f"{base}/files/{upload_id}", headers={"X-Test-User": "alice"}) as resp:
        assert resp.status == 200
        assert hashlib.sha256(await resp.read()).digest() == hashlib.sha256(data).digest()
    async with http.head(f"{base}/files/{upload_id}", headers={**TUS, "X-Test-User": "alice"}) as resp:
        assert resp.headers["Upload-Offset"] == resp.headers["Upload-Length"] == str(len(data))


async def test_resume_lists_the_parts_and_uploads_only_the_rest(
    direct_server: Any, http: aiohttp.ClientSession
) -> None:
    server, _ = await direct_server()
    first = client_for(http, server, "bob", part_size=MiB)
    data = os.urandom(8 * MiB + 1234)
    created = await first.create(len(data))
    upload_id, key = created["uploadId"], created["key"]
    numbers = first.numbers(len(data))  # 9 parts
    await first.upload_parts(upload_id, key, data, numbers[:4])  # ... and the tab is closed
    later = client_for(http, server, "bob", part_size=MiB)
    listed = await later.listed(upload_id, key)
    assert [p["PartNumber"] for p in listed] == [1, 2, 3, 4] and all(p["Size"] == MiB for p in listed)
    have = {p["PartNumber"]: p["ETag"] for p in listed}
    rest = [n for n in numbers if n not in have]
    etags = {**have, **await later.upload_parts(upload_id, key, data, rest)}
    assert sorted(later.puts) == rest
    status, body = await later.complete(upload_id, key, etags)
    assert status == 200, body
    async with http.get(f"{later.base}/files/{upload_id}", headers=later.headers) as resp:
        assert await resp.read() == data


async def test_more_bytes_than_declared_is_refused_and_nothing_is_handed_on(
    direct_server: Any, http: aiohttp.ClientSession, redis_url: str, moto_endpoint: str, s3_bucket: str
) -> None:
    server, _ = await direct_server()
    client = client_for(http, server, "carol", part_size=MiB)
    created = await client.create(2 * MiB)  # declares 2 MiB ...
    upload_id, key = created["uploadId"], created["key"]
    data = os.urandom(3 * MiB)  # ... and sends 3
    etags = await client.upload_parts(upload_id, key, data, [1, 2, 3])
    status, body = await client.complete(upload_id, key, etags)
    assert status == 413 and "ERR_UPLOAD_SIZE_EXCEEDED" in body, body
    assert await queued_jobs(redis_url) == 0
    status, _ = await media_state(http, client.base, upload_id, headers=client.headers)
    assert status == 410  # removed whole: no record, no job
    async with http.head(f"{client.base}/files/{upload_id}", headers={**TUS, **client.headers}) as resp:
        assert resp.status == 410  # aborted: a tombstone
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


async def test_another_user_can_neither_sign_list_complete_nor_abort(
    direct_server: Any, http: aiohttp.ClientSession
) -> None:
    server, _ = await direct_server()
    owner = client_for(http, server, "dana", part_size=MiB)
    data = os.urandom(MiB + 10)
    created = await owner.create(len(data))
    upload_id, key = created["uploadId"], created["key"]
    etags = await owner.upload_parts(upload_id, key, data, [1])
    other = client_for(http, server, "eve")
    calls = [
        ("GET", f"/s3/multipart/{upload_id}/1", {"params": {"key": key}}),
        ("GET", f"/s3/multipart/{upload_id}/batch", {"params": {"key": key, "partNumbers": "1,2"}}),
        ("GET", f"/s3/multipart/{upload_id}", {"params": {"key": key}}),
        ("POST", f"/s3/multipart/{upload_id}/complete", {"params": {"key": key}, "json": {"parts": []}}),
        ("DELETE", f"/s3/multipart/{upload_id}", {"params": {"key": key}}),
    ]
    for method, path, kwargs in calls:
        status, body = await other.call(method, path, **kwargs)
        assert status == 404 and "ERR_UPLOAD_NOT_FOUND" in body, (method, path, status, body)
        # the owner with a key that is not the upload's: as absent
        wrong = {**kwargs, "params": {**kwargs["params"], "key": key + "x"}}
        status, body = await owner.call(method, path, **wrong)
        assert status == 404, (method, path, status, body)
    etags.update(await owner.upload_parts(upload_id, key, data, [2]))
    assert (await owner.complete(upload_id, key, etags))[0] == 200  # the owner's upload was untouched
    status, _ = await other.call("DELETE", f"/s3/multipart/{upload_id}", params={"key": key})
    assert status == 404


async def test_abort_removes_the_upload(
    direct_server: Any, http: aiohttp.ClientSession, moto_endpoint: str, s3_bucket: str
) -> None:
    server, _ = await direct_server()
    client = client_for(http, server, "fay", part_size=MiB)
    created = await client.create(3 * MiB)
    upload_id, key = created["uploadId"], created["key"]
    await client.upload_parts(upload_id, key, os.urandom(3 * MiB), [1])
    status, body = await client.call("DELETE", f"/s3/multipart/{upload_id}", params={"key": key})
    assert (status, body) == (200, {})
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    status, _ = await client.call("GET", f"/s3/multipart/{upload_id}", params={"key": key})
    assert status == 410


async def test_a_tus_patch_cannot_write_into_a_direct_upload(direct_server: Any, http: aiohttp.ClientSession) -> None:
    server, _ = await direct_server()
    client = client_for(http, server, "gus", part_size=MiB)
    created = await client.create(MiB)
    headers = {**TUS, **client.headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    async with http.patch(f"{client.base}/files/{created['uploadId']}", data=b"x" * 10, headers=headers) as resp:
        assert resp.status == 403, await resp.text()
    await asyncio.sleep(0)


async def test_a_small_video_by_single_upload_is_found_by_the_sweep_and_reaches_ready(
    direct_server: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server, settings = await direct_server()
    client = client_for(http, server, "hal")
    clip = make_marked_clip(tmp_path / "clip.mp4", "direct", seconds=1.0, width=160, height=120).read_bytes()
    # as @uppy/aws-s3 6 asks: the file's meta as metadata[...] (the page adds its size)
    query = {"filename": "clip.mp4", "type": "video/mp4", "metadata[size]": str(len(clip)), "metadata[name]": "c"}
    status, params = await client.call("GET", "/s3/params", params=query)
    assert status == 200, params
    fields = params["fields"]
    assert params["method"] == "POST" and fields["key"] == params["key"] and fields["Content-Type"] == "video/mp4"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and "policy" in fields  # SigV4 form policy
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", len(clip), len(clip)] in policy["conditions"]  # S3 refuses any other size
    assert await client.post_form(params, clip, "clip.mp4") == 201
    # Uppy calls nothing after a single upload: the server's sweep finds the object and hands it on
    assert await server.app[DIRECT].settle_singles() == 1
    assert await server.app[DIRECT].settle_singles() == 0  # once
    assert await run_worker(settings) == (1, 0)
    status, media = await media_state(http, client.base, params["uploadId"], headers=client.headers)
    assert status == 200 and media["state"] == "ready", media


async def test_server_side_encryption_is_asked_for_the_raw_object(
    direct_server: Any, http: aiohttp.ClientSession, moto_endpoint: str, s3_bucket: str
) -> None:
    server, _ = await direct_server(direct_sse="AES256")
    client = client_for(http, server, "ivy", part_size=MiB)
    data = os.urandom(2 * MiB)
    created = await client.create(len(data))
    etags = await client.upload_parts(created["uploadId"], created["key"], data, [1, 2])
    assert (await client.complete(created["uploadId"], created["key"], etags))[0] == 200
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert s3.head_object(Bucket=s3_bucket, Key=created["key"])["ServerSideEncryption"] == "AES256"
    status, params = await client.call("GET", "/s3/params", params={"size": "5", "type": "text/plain"})
    assert status == 200, params
    assert params["fields"]["x-amz-server-side-encryption"] == "AES256"
    policy = json.loads(base64.b64decode(params["fields"]["policy"]))
    assert {"x-amz-server-side-encryption": "AES256"} in policy["conditions"]  # signed: the form must ask for it
    assert await client.post_form(params, b"hello") == 201  # (moto keeps no SSE of a form upload to check)


async def test_the_quota_is_checked_at_creation(direct_server: Any, http: aiohttp.ClientSession) -> None:
    server, _ = await direct_server(quota_bytes=3 * MiB)
    client = client_for(http, server, "jay")
    await client.create(2 * MiB)  # counted at once: the declared size, before a byte arrives
    status, body = await client.call(
        "POST", "/s3/multipart", json={"filename": "x", "metadata": {"size": str(2 * MiB)}}
    )
    assert status == 413 and "ERR_QUOTA_EXCEEDED" in body, body
    status, body = await client.call("GET", "/s3/params", params={"size": str(2 * MiB)})
    assert status == 413 and "ERR_QUOTA_EXCEEDED" in body, body
    other = client_for(http, server, "kim")  # another user's quota is their own
    await other.create(2 * MiB)


async def test_the_sweeper_aborts_an_abandoned_upload_after_its_expiry(
    direct_server: Any, http: aiohttp.ClientSession, moto_endpoint: str, s3_bucket: str
) -> None:
    server, _ = await direct_server(direct_expiry=600)
    client = client_for(http, server, "lee", part_size=MiB)
    created = await client.create(3 * MiB)
    await client.upload_parts(created["uploadId"], created["key"], os.urandom(3 * MiB), [1])  # then nothing
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert len(s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])) == 1
    sweeper = server.app[SWEEPER]
    assert (await sweeper.run_once(now=time.time() + 60)).expired == 0  # not yet
    assert (await sweeper.run_once(now=time.time() + 601)).expired == 1
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0  # the .info too
    status, _ = await client.call("GET", f"/s3/multipart/{created['uploadId']}", params={"key": created["key"]})
    assert status == 410


async def test_an_upload_in_progress_survives_the_loss_of_its_redis_record(
    direct_server: Any, http: aiohttp.ClientSession, redis_url: str
) -> None:
    server, _ = await direct_server()
    client = client_for(http, server, "max", part_size=MiB)
    data = os.urandom(3 * MiB)
    created = await client.create(len(data))
    upload_id, key = created["uploadId"], created["key"]
    etags = await client.upload_parts(upload_id, key, data, [1, 2])
    conn = redis.asyncio.Redis.from_url(redis_url)
    try:  # Redis loses the record: the upload is rebuilt from its .info object and S3's parts
        assert await conn.delete(keyspace.upload_key(upload_id), keyspace.parts_key(upload_id)) >= 1
    finally:
        await conn.aclose()
    assert [p["PartNumber"] for p in await client.listed(upload_id, key)] == [1, 2]
    etags.update(await client.upload_parts(upload_id, key, data, [3]))
    status, body = await client.complete(upload_id, key, etags)
    assert status == 200, body
    async with http.get(f"{client.base}/files/{upload_id}", headers=client.headers) as resp:
        assert await resp.read() == data
