"""S3Store runs the store-conformance suite: moto's S3 server over HTTP, records in a private redis-server.

``stored_size`` asks S3 itself, around the store: the final object's size once it exists, else
the parts of the multipart upload plus the carried tail (``<key>.part``); None when S3 holds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from botocore.exceptions import ClientError

from tests.conformance.store_suite import MiB, StoreConformance
from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE
from tusd_py.core.ports import Store
from tusd_py.protocol.errors import TusError
from tusd_py.state.records import RedisUploadRecords
from tusd_py.stores.s3 import S3Config, S3Store
from tusd_py.stores.s3.bucket import TAIL_PARTS
from tusd_py.stores.s3.client import open_client
from tusd_py.stores.s3.parts import PartPolicy

POLICY = PartPolicy(preferred=MOTO_MIN_PART_SIZE, min_size=MOTO_MIN_PART_SIZE, max_size=64 * MiB)


class TestS3Store(StoreConformance):
    # Sizes cross several parts of the small test policy, so tails, short parts and the
    # carried remainder are all exercised by the shared cases.
    SIZE = 3 * MOTO_MIN_PART_SIZE + 1234
    PARTIAL_SIZES = (2 * MOTO_MIN_PART_SIZE, 120 * 1024)

    @pytest.fixture(autouse=True)
    async def _backend(self, moto_endpoint: str, s3_bucket: str, redis_url: str) -> AsyncIterator[None]:
        self.bucket = s3_bucket
        self.redis = redis.asyncio.Redis.from_url(redis_url)
        async with open_client(endpoint_url=moto_endpoint, path_style=True) as client:
            self.client: Any = client
            yield
        await self.redis.aclose()

    def _build(self) -> S3Store:
        config = S3Config(bucket=self.bucket, policy=POLICY, expiry_seconds=60.0)
        return S3Store(config, RedisUploadRecords(self.redis), self.client)

    async def make_store(self) -> Store:
        return self._build()

    async def reopen(self, store: Store) -> Store | None:
        return self._build()  # a restarted process: same bucket and Redis, new store object

    async def stored_size(self, store: Store, upload_id: str) -> int | None:
        key = upload_id  # no prefix configured
        final = await self._head(key)
        if final is not None:
            return int(final["ContentLength"])
        tail = await self._head(key + ".part")
        uploads = await self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        ours = [u for u in uploads.get("Uploads", []) if u["Key"] == key]
        if not ours and tail is None:
            return None
        # What S3 durably vouches for: the parts the checkpoint counts plus the carried tail.
        # Parts above the checkpoint (a rolled-back request's) are garbage that the next PATCH
        # overwrites under the same numbers, exactly as a rebuild from S3 treats them.
        counted = int(tail["Metadata"][TAIL_PARTS]) if tail is not None else 0
        size = int(tail["ContentLength"]) if tail is not None else 0
        for upload in ours:
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
            )
            async for page in pages:
                size += sum(part["Size"] for part in page.get("Parts", []) if part["PartNumber"] <= counted)
        return size

    async def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head


async def test_discard_deletes_the_object_and_keeps_the_record(
    moto_endpoint: str, s3_bucket: str, redis_url: str
) -> None:
    from tests.conformance.fakes import FakeBody, pattern, split
    from tests.conformance.store_suite import new_info
    from tusd_py.protocol.info import UploadState

    data = pattern(2 * MOTO_MIN_PART_SIZE + 99, seed=1)
    rclient = redis.asyncio.Redis.from_url(redis_url)
    async with open_client(endpoint_url=moto_endpoint, path_style=True) as client:
        config = S3Config(bucket=s3_bucket, policy=POLICY, expiry_seconds=60.0)
        store = S3Store(config, RedisUploadRecords(rclient), client)
        upload = await store.create_upload(new_info(len(data)))
        await upload.write_chunk(0, FakeBody(split(data, 64 * 1024)))
        with pytest.raises(TusError, match="not complete"):
            await upload.discard()  # assembled but not yet finished: the object may not exist
        await upload.finish()
        await upload.set_state(UploadState.HANDED_OFF)
        await upload.discard()
        listed = await client.list_objects_v2(Bucket=s3_bucket)
        assert [o["Key"] for o in listed.get("Contents", [])] == [f"{upload.id}.info"]
        await rclient.flushall()  # rebuilt from .info alone: still complete
        info = await (await store.get_upload(upload.id)).get_info()
        assert (info.offset, info.state) == (len(data), UploadState.HANDED_OFF)
    await rclient.aclose()
