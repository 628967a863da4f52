"""GET /healthz and /readyz (issue 16): in-process, over the file store, and with Redis up or gone.

With Redis unreachable, every route that needs it answers 503 ERR_STORAGE_UNAVAILABLE, never a
500; /healthz stays 200 and /readyz is 503 naming redis."""

from __future__ import annotations

import asyncio
import os
import time

from tests.fixtures.app import MakeClient
from tests.fixtures.moto_server import free_port
from tusd_py.web.health import READINESS, ReadinessProbe

TUS = {"Tus-Resumable": "1.0.0"}


class Check:
    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay, self.error, self.calls = delay, error, 0

    async def ready(self) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error


async def test_healthz_needs_no_tus_headers_and_answers_head(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.text() == "ok\n"
    head = await client.head("/healthz")
    assert head.status == 200
    assert await head.read() == b""


async def test_readyz_over_the_file_store(make_client: MakeClient) -> None:
    client = await make_client()
    for method in ("GET", "HEAD"):
        response = await client.request(method, "/readyz")
        assert response.status == 200, await response.text()
    body = await (await client.get("/readyz")).json()
    assert body == {"status": "ready", "checks": {"storage": "ok", "database": "ok"}}


async def test_readyz_names_what_does_not_answer(make_client: MakeClient) -> None:
    client = await make_client()
    probe = client.app[READINESS]  # the app is frozen once started: its probe is changed in place
    probe.checks = {"storage": Check(), "redis": Check(error=ConnectionError("refused")), "database": Check(delay=5)}
    probe.timeout, probe.cache = 0.2, 0
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["storage"] == "ok"
    assert "refused" in body["checks"]["redis"]
    assert body["checks"]["database"] == "no answer within 0.2 s"


async def test_checks_run_concurrently_and_a_result_is_kept_for_a_second() -> None:
    checks = {name: Check(delay=0.3) for name in ("a", "b", "c")}
    probe = ReadinessProbe(dict(checks), timeout=2, cache=1.0)
    started = time.monotonic()
    results = await asyncio.gather(*(probe.results() for _ in range(20)))  # 20 probes, one round
    assert time.monotonic() - started < 0.8
    assert all(result == {"a": "ok", "b": "ok", "c": "ok"} for result in results)
    assert await probe.results() == results[0]  # cached
    assert [check.calls for check in checks.values()] == [1, 1, 1]


async def test_readyz_with_redis_up(make_client: MakeClient, redis_url: str) -> None:
    client = await make_client(redis_url=redis_url)
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["checks"] == {"storage": "ok", "redis": "ok", "database": "ok"}


async def test_unreachable_redis_is_503_on_every_route_that_needs_it(make_client: MakeClient) -> None:
    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    created = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})  # the file store alone
    assert created.status == 201
    path = created.headers["Location"].split("//", 1)[1].split("/", 1)[1]
    upload_id = path.rsplit("/", 1)[1]
    patch_headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    answers = {
        "HEAD tus": await client.head(f"/{path}", headers=TUS),
        "PATCH tus": await client.patch(f"/{path}", headers=patch_headers, data=b"abc"),
        "DELETE tus": await client.delete(f"/{path}", headers=TUS),
        "GET events": await client.get(f"/media/{upload_id}/events"),  # live changes come over Redis pub/sub
    }
    for name, response in answers.items():
        assert response.status == 503, (name, response.status, await response.text())
        if name != "HEAD tus":
            assert (await response.text()).startswith("ERR_STORAGE_UNAVAILABLE"), name
    status = await client.get(f"/media/{upload_id}")  # the media records are in the SQL database
    assert status.status == 200 and (await status.json())["state"] == "uploading"
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 503
    body = await ready.json()
    assert body["checks"]["storage"] == "ok" and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] != "ok"


def _s3(endpoint: str, bucket: str, **extra: object) -> dict[str, object]:
    s3 = {"store": "s3", "s3_bucket": bucket, "s3_endpoint_url": endpoint, "s3_path_style": True}
    return {**s3, "master_key": os.urandom(32).hex(), **extra}  # an S3 server starts only with its key


async def test_readyz_over_s3_asks_head_bucket(make_client: MakeClient, moto_endpoint: str, s3_bucket: str) -> None:
    client = await make_client(**_s3(moto_endpoint, s3_bucket))
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()
    assert (await response.json())["checks"] == {"storage": "ok", "database": "ok"}  # the media records' SQLite
    missing = await make_client(**_s3(moto_endpoint, s3_bucket + "-absent"))
    response = await missing.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["storage"] != "ok"


async def test_s3_store_with_unreachable_redis_is_503(
    make_client: MakeClient, moto_endpoint: str, s3_bucket: str
) -> None:
    client = await make_client(**_s3(moto_endpoint, s3_bucket, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    created = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})  # the upload records: Redis
    assert created.status == 503
    assert (await created.text()).startswith("ERR_STORAGE_UNAVAILABLE")
    head = await client.head("/files/0123456789abcdef0123456789abcdef", headers=TUS)
    assert head.status == 503
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["storage"] == "ok"
