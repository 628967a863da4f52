"""The two deployments the adversarial suite attacks: the embedded file store, and the S3 store
on a private moto server with a private Redis. Each knows its server's environment and can list
every upload id it holds anywhere (data files, SQLite rows / S3 objects, multipart uploads,
Redis keys), so a test can check that a refused request left nothing behind."""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE

# An upload id is secrets.token_hex(16): 32 lowercase hex digits.
HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


@dataclass
class Deployment:
    kind: str  # "file" or "s3"
    env: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""
    bucket: str = ""
    redis_url: str = ""

    def __str__(self) -> str:
        return self.kind

    def upload_ids(self, data_dir: Path) -> set[str]:
        """Every upload id the store holds a trace of, however small."""
        return _file_ids(data_dir) if self.kind == "file" else self._s3_ids()

    def traces(self, data_dir: Path, upload_id: str) -> list[str]:
        """Where the store holds something of ``upload_id`` (for failure messages)."""
        if self.kind == "file":
            found = [str(p) for p in (data_dir / "uploads").glob(f"*{upload_id}*")]
            db = sqlite3.connect(f"file:{data_dir / 'tusd.sqlite3'}?mode=ro", uri=True, timeout=10)
            try:
                for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                    found += [
                        f"{table}: {row}"[:300]
                        for row in db.execute(f'SELECT * FROM "{table}"')
                        if upload_id in str(row[0])
                    ]
            finally:
                db.close()
            return found
        import boto3
        import redis

        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        found = [
            f"s3 {o['Key']}"
            for o in s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
            if upload_id in o["Key"]
        ]
        found += [
            f"multipart {u['Key']}"
            for u in s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
            if upload_id in u["Key"]
        ]
        with redis.Redis.from_url(self.redis_url) as client:
            for key in client.scan_iter(match=f"*{upload_id}*"):
                kind = client.type(key).decode()
                value = client.hgetall(key) if kind == "hash" else client.get(key) if kind == "string" else kind
                found.append(f"redis {key.decode()}: {value!r}"[:600])
        return found

    def _s3_ids(self) -> set[str]:
        import boto3
        import redis

        ids: set[str] = set()
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                ids.update(HEX32.findall(obj["Key"]))
        multipart = s3.list_multipart_uploads(Bucket=self.bucket)
        for item in multipart.get("Uploads", []):
            ids.update(HEX32.findall(item["Key"]))
        with redis.Redis.from_url(self.redis_url) as client:
            for raw in client.scan_iter(count=1000):
                key = raw.decode(errors="replace")
                if key.startswith("tus:lock:"):
                    continue  # a lock lives for one request (with a TTL): taken even for unknown ids
                ids.update(HEX32.findall(key))
            for member in client.zrange("tus:uploads", 0, -1):
                ids.update(HEX32.findall(member.decode(errors="replace")))
        return ids


def _file_ids(data_dir: Path) -> set[str]:
    ids: set[str] = set()
    uploads = data_dir / "uploads"
    if uploads.exists():
        for path in uploads.iterdir():
            ids.update(HEX32.findall(path.name))
    media = data_dir / "media"
    if media.exists():
        for path in media.iterdir():
            ids.update(HEX32.findall(path.name))
    db_path = data_dir / "tusd.sqlite3"
    if db_path.exists():
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:  # uploads, tombstones, media_records, ...: the key is the first column
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    ids.update(HEX32.findall(str(row[0])))
        finally:
            db.close()
    return ids


def file_deployment() -> Deployment:
    return Deployment("file", {"TUSD_SWEEP_INTERVAL": "3600"})


def s3_deployment(moto_endpoint: str, bucket: str, redis_url: str) -> Deployment:
    """The environment tests/e2e/test_multi_instance.py uses: moto over HTTP, path style, small
    parts (moto's minimum), a fresh master key, short lock timings so a killed server's lock is
    waited out quickly."""
    env = {
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": bucket,
        "TUSD_S3_ENDPOINT_URL": moto_endpoint,
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_S3_MIN_PART_SIZE": str(MOTO_MIN_PART_SIZE),
        "TUSD_REDIS_URL": redis_url,
        "TUSD_MASTER_KEY": os.urandom(32).hex(),
        "TUSD_LOCK_TIMEOUT": "5",
        "TUSD_LOCK_TTL": "2",
        "TUSD_SWEEP_INTERVAL": "3600",
    }
    return Deployment("s3", env, moto_endpoint, bucket, redis_url)
