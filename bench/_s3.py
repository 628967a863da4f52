"""S3 side of the benchmark: the bucket, moto's raw multipart ceiling, and checks and clean-up.

The ceiling is aiobotocore uploading 8 MiB parts straight to moto, with the same client
configuration as the server (``open_client``), at the workload's concurrency: each worker
runs one multipart upload at a time, its parts one after the other.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from _tusload import Payload, Workload

from tusd_py.stores.s3.client import open_client

PART = 8 * 1024 * 1024


def client(endpoint: str) -> Any:
    return open_client(endpoint_url=endpoint, path_style=True, max_connections=32)


async def create_bucket(endpoint: str) -> str:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    async with client(endpoint) as s3:
        await s3.create_bucket(Bucket=name)
    return name


async def empty_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object and abort every multipart upload, so moto frees their memory."""
    async with client(endpoint) as s3:
        uploads = await s3.list_multipart_uploads(Bucket=bucket)
        for u in uploads.get("Uploads", []):
            await s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        while True:
            page = await s3.list_objects_v2(Bucket=bucket)
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if not keys:
                return
            await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


async def stored_bytes(endpoint: str, bucket: str) -> int:
    """Bytes in final objects (keys without a suffix: ``<id>.info`` and ``<id>.part`` excluded)."""
    total, token = 0, {}
    async with client(endpoint) as s3:
        while True:
            page = await s3.list_objects_v2(Bucket=bucket, **token)
            total += sum(int(o["Size"]) for o in page.get("Contents", []) if "." not in o["Key"])
            if not page.get("IsTruncated"):
                return total
            token = {"ContinuationToken": page["NextContinuationToken"]}


async def ceiling(endpoint: str, bucket: str, w: Workload, payload: Payload) -> float:
    """Seconds for ``w`` uploaded as raw multipart uploads of 8 MiB parts."""
    part = payload.block[:PART] if len(payload.block) >= PART else (payload.block * (PART // len(payload.block)))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(w.uploads):
        queue.put_nowait(i)
    async with client(endpoint) as s3:

        async def one(key: str) -> None:
            mp = await s3.create_multipart_upload(Bucket=bucket, Key=key)
            parts, sent, number = [], 0, 1
            while sent < w.size:
                body = part[: min(PART, w.size - sent)]
                resp = await s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=mp["UploadId"], PartNumber=number, Body=body
                )
                parts.append({"PartNumber": number, "ETag": resp["ETag"]})
                sent, number = sent + len(body), number + 1
            await s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=mp["UploadId"], MultipartUpload={"Parts": parts}
            )

        async def worker() -> None:
            while not queue.empty():
                await one(f"ceiling{queue.get_nowait()}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(w.concurrency)))
        return time.perf_counter() - t0
