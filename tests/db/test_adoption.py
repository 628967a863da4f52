"""A server upgraded from before the database takes the media records it had over at its first
start (from the embedded tusd.sqlite3, or from Redis), once, and never again after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio

from pipeline.contract import MediaRecord, MediaState
from pipeline.records import FileMediaRecords, RedisMediaRecords
from tusd_py.app import create_app
from tusd_py.db.keys import DATABASE
from tusd_py.db.records import SqlMediaRecords
from tusd_py.settings import Settings

READY = {"state": MediaState.READY, "data_key": {"kek_id": "k1", "blob": "wrapped"}}


async def _started_records(aiohttp_client: Any, settings: Settings) -> SqlMediaRecords:
    client = await aiohttp_client(create_app(settings, background=False))
    return SqlMediaRecords(client.app[DATABASE])


async def test_the_embedded_records_are_adopted_at_the_first_start(aiohttp_client: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    await FileMediaRecords(data).put(MediaRecord(upload_id="old", **READY))
    settings = Settings.from_flat(data_dir=str(data), store="file")
    records = await _started_records(aiohttp_client, settings)
    adopted = await records.get("old")
    assert adopted is not None and adopted.state is MediaState.READY and adopted.data_key == READY["data_key"]
    await FileMediaRecords(data).put(MediaRecord(upload_id="later"))  # written by an old process afterwards
    again = await _started_records(aiohttp_client, settings)
    assert [i async for i in again.list_ids()] == ["old"]  # the database is in use: nothing taken over again


async def test_redis_records_are_adopted_at_the_first_start(
    aiohttp_client: Any, tmp_path: Path, redis_url: str
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await RedisMediaRecords(client).put(MediaRecord(upload_id="r1", **READY))
    finally:
        await client.aclose()
    settings = Settings.from_flat(data_dir=str(tmp_path / "data"), store="file", redis_url=redis_url)
    records = await _started_records(aiohttp_client, settings)
    adopted = await records.get("r1")
    assert adopted is not None and adopted.data_key == READY["data_key"]


async def test_a_fresh_server_creates_no_legacy_file(aiohttp_client: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings.from_flat(data_dir=str(data), store="memory")
    records = await _started_records(aiohttp_client, settings)
    assert [i async for i in records.list_ids()] == []
    assert not (data / "tusd.sqlite3").exists() and (data / "app.sqlite3").is_file()


async def test_s3_with_a_sqlite_database_is_warned_about(database_url: str, tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from tusd_py.db.admin import warn_if_not_shared
    from tusd_py.db.engine import Database, create_engine, resolve_url

    database = Database(create_engine(resolve_url(database_url, str(tmp_path))))
    try:
        with capture_logs() as logs:
            warned = warn_if_not_shared(database, "s3")
            assert not warn_if_not_shared(database, "file")
        assert warned is (database.dialect == "sqlite")
        assert [e["event"] for e in logs] == (["database_not_shared"] if warned else [])
    finally:
        await database.close()
