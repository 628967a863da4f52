"""HEAD and GET of a tus URL agree once processing has dropped an upload's plaintext: the upload's
own record says so (``UploadInfo.discarded``: on S3 in Redis and in ``<id>.info``, on the file
store in its row), so when no kept original replaces the bytes (the media record lost, e.g. the
database restored from an older backup) both answer 410 ``ERR_UPLOAD_CONTENT_GONE``. Before, S3
answered HEAD 200 with a full offset beside GET 404 NoSuchKey, and the file store GET 200 with
the zeros of the hole that replaced the bytes. On S3 (moto over HTTP, a private Redis) also after
the Redis record is lost and rebuilt from S3, and from an ``.info`` written before discards were
recorded."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import redis

from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE
from tests.web.helpers import OCTET, TUS, path_of
from tusd_py.keys import STORE
from tusd_py.stores.s3.store import S3Store

DATA = b"the plaintext of a video that processing replaced " * 100


def _s3(endpoint: str, bucket: str, redis_url: str) -> dict[str, Any]:
    return {
        "store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_path_style": True,
        "s3_min_part_size": MOTO_MIN_PART_SIZE,
        "master_key": os.urandom(32).hex(),
        "redis_url": redis_url,
    }


@pytest.fixture(params=["file", "s3"])
async def any_store(request: pytest.FixtureRequest, make_client: Any) -> Any:
    if request.param == "file":
        return await make_client()
    values = (request.getfixturevalue(name) for name in ("moto_endpoint", "s3_bucket", "redis_url"))
    return await make_client(**_s3(*values))


@pytest.fixture
async def client(make_client: Any, moto_endpoint: str, s3_bucket: str, redis_url: str) -> Any:
    return await make_client(**_s3(moto_endpoint, s3_bucket, redis_url))


async def _uploaded(client: Any) -> str:
    headers = {**TUS, "Upload-Length": str(len(DATA)), "Content-Type": OCTET}
    response = await client.post("/files/", headers=headers, data=DATA)
    assert response.status == 201, await response.text()
    return path_of(response.headers["Location"]).rsplit("/", 1)[1]


async def _answers(client: Any, upload_id: str) -> tuple[tuple[int, str], tuple[int, str]]:
    """(status, Upload-Offset) of HEAD (a HEAD error has no body to name its code), and (status,
    error code or "the bytes") of GET."""
    head = await client.head(f"/files/{upload_id}", headers=TUS)
    got = await client.get(f"/files/{upload_id}")
    body = await got.read()
    head_says = head.headers.get("Upload-Offset", "")
    get_says = "the bytes" if got.status == 200 and body == DATA else body.decode(errors="replace").split(":", 1)[0]
    return (head.status, head_says), (got.status, get_says)


def _flush(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as direct:
        direct.flushall()


GONE = ((410, ""), (410, "ERR_UPLOAD_CONTENT_GONE"))


async def test_head_and_get_agree_when_the_dropped_plaintext_has_no_replacement(any_store: Any) -> None:
    client, store = any_store, any_store.app[STORE]
    upload_id = await _uploaded(client)
    assert await _answers(client, upload_id) == ((200, str(len(DATA))), (200, "the bytes"))
    # What processing does once the asset is ready; its media record is lost (none exists here).
    await store.as_discardable_upload(await store.get_upload(upload_id)).discard()
    assert await _answers(client, upload_id) == GONE
    info = await (await store.get_upload(upload_id)).get_info()
    assert (info.offset, info.size, info.discarded) == (len(DATA), len(DATA), True)  # still complete


async def test_on_s3_the_discard_survives_the_loss_of_the_redis_record(client: Any, redis_url: str) -> None:
    store: S3Store = client.app[STORE]
    upload_id = await _uploaded(client)
    await store.as_discardable_upload(await store.get_upload(upload_id)).discard()
    assert await store.bucket.object_size(store.bucket.key(upload_id)) is None
    assert await _answers(client, upload_id) == GONE

    _flush(redis_url)  # the record rebuilt from <id>.info, which recorded the discard too
    assert await _answers(client, upload_id) == GONE
    info = await (await store.get_upload(upload_id)).get_info()
    assert (info.offset, info.size, info.discarded) == (len(DATA), len(DATA), True)


async def test_an_info_from_before_discards_were_recorded_is_read_as_discarded(client: Any, redis_url: str) -> None:
    """A handed-off upload whose object is gone: the rebuild knows the plaintext was dropped."""
    store: S3Store = client.app[STORE]
    upload_id = await _uploaded(client)
    await store.as_discardable_upload(await store.get_upload(upload_id)).discard()
    key = store.bucket.key(upload_id, ".info")
    stored = await store.client.get_object(Bucket=store.bucket.name, Key=key)
    async with stored["Body"] as stream:
        doc = json.loads(await stream.read())
    assert doc["info"].pop("discarded") is True
    await store.client.put_object(Bucket=store.bucket.name, Key=key, Body=json.dumps(doc).encode())
    _flush(redis_url)
    assert await _answers(client, upload_id) == GONE


async def test_an_upload_whose_plaintext_is_kept_is_served_as_before(any_store: Any) -> None:
    upload_id = await _uploaded(any_store)
    for _ in range(2):  # HEAD changes nothing
        assert await _answers(any_store, upload_id) == ((200, str(len(DATA))), (200, "the bytes"))
