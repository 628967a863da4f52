"""The database down under a running server: 503 ERR_STORAGE_UNAVAILABLE where it is needed (never
a 500), /readyz names it, and the server answers again once the database is back."""

from __future__ import annotations

from tests.fixtures.app import MakeClient
from tests.fixtures.moto_server import free_port
from tests.fixtures.postgres import PostgresCluster

TUS = {"Tus-Resumable": "1.0.0"}


async def test_an_unreachable_database_is_503_and_readyz_says_so(make_client: MakeClient) -> None:
    dead = f"postgresql://tusd@127.0.0.1:{free_port()}/tusd"  # nothing listens there
    client = await make_client(database_url=dead, database_migrate=False)  # migrating would stop the start
    created = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})  # the catalogue is asked
    assert created.status == 503, await created.text()
    assert (await created.text()).startswith("ERR_STORAGE_UNAVAILABLE")
    status = await client.get("/media/0123456789abcdef0123456789abcdef")
    assert status.status == 404, await status.text()  # an unknown upload: the store answers, no record is read
    listing = await client.get("/media")
    assert listing.status == 503 and (await listing.text()).startswith("ERR_STORAGE_UNAVAILABLE")
    ready = await client.get("/readyz")
    assert ready.status == 503
    checks = (await ready.json())["checks"]
    assert checks["storage"] == "ok" and checks["database"] != "ok"
    assert (await client.get("/healthz")).status == 200


async def test_a_database_that_comes_back_is_used_again(
    make_client: MakeClient, postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    client = await make_client(database_url=postgres_url)
    created = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})
    assert created.status == 201
    name = postgres_url.rsplit("/", 1)[1]
    # every connection of the pool is cut, as a database restart does
    postgres_cluster.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    again = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})
    assert again.status == 201, await again.text()  # pool_pre_ping replaced the dead connections
    assert (await client.get("/readyz")).status == 200
