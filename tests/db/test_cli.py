"""``tusd-py db upgrade|current|import-records`` as an operator runs them (a subprocess), on SQLite
and on the private PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.contract import MediaRecord, MediaState
from pipeline.records import FileMediaRecords, RedisMediaRecords
from tusd_py.db.engine import Database, create_engine, resolve_url
from tusd_py.db.migrate import head
from tusd_py.db.records import SqlMediaRecords

ROOT = Path(__file__).resolve().parents[2]


def _cli(data_dir: Path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir),
        "TUSD_DATA_DIR": str(data_dir),
        "TUSD_DATABASE_URL": database_url,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "tusd_py", "db", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upgrade_then_current(database_url: str, tmp_path: Path) -> None:
    before = _cli(tmp_path, database_url, "current")
    assert before.returncode == 0, before.stderr
    assert "at revision none" in before.stdout
    done = _cli(tmp_path, database_url, "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"at revision {head()} (newest {head()})" in done.stdout
    assert "password" not in done.stdout.lower()
    again = _cli(tmp_path, database_url, "current")
    assert again.returncode == 0 and f"at revision {head()}" in again.stdout
    assert "alembic" not in again.stderr  # one line of our own, no library chatter


def test_an_unreachable_database_is_one_line_and_status_1(tmp_path: Path) -> None:
    result = _cli(tmp_path, "postgresql://nobody:secret@127.0.0.1:9/none", "upgrade")
    assert result.returncode == 1
    assert result.stderr.startswith("tusd-py db upgrade: the database is unavailable")
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


def test_a_bad_url_is_a_configuration_error(tmp_path: Path) -> None:
    result = _cli(tmp_path, "mysql://h/d", "current")
    assert result.returncode == 2 and "TUSD_DATABASE_URL" in result.stderr


async def test_import_records_from_the_embedded_file(database_url: str, tmp_path: Path) -> None:
    old = FileMediaRecords(tmp_path)  # a server from before the SQL database: tusd.sqlite3
    await old.put(MediaRecord(upload_id="a", state=MediaState.READY, data_key={"kek_id": "k"}))
    await old.put(MediaRecord(upload_id="b", state=MediaState.FAILED, reason="bad"))
    first = _cli(tmp_path, database_url, "import-records")
    assert first.returncode == 0, first.stderr
    assert "copied 2 media records" in first.stdout and "0 were there already" in first.stdout
    second = _cli(tmp_path, database_url, "import-records")
    assert "copied 0 media records" in second.stdout and "2 were there already" in second.stdout
    database = Database(create_engine(resolve_url(database_url, str(tmp_path))))
    try:
        records = SqlMediaRecords(database)
        imported = await records.get("a")
        assert imported is not None and imported.data_key == {"kek_id": "k"} and imported.state is MediaState.READY
        assert [i async for i in records.list_ids()] == ["a", "b"]
    finally:
        await database.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_import_records_from_redis(database_url: str, tmp_path: Path, redis_url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await RedisMediaRecords(client).put(MediaRecord(upload_id="r1", state=MediaState.READY, data_key={"w": "1"}))
    finally:
        await client.aclose()
    result = _cli(tmp_path, database_url, "import-records", TUSD_REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr
    assert "copied 1 media records" in result.stdout
