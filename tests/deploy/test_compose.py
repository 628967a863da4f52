"""The compose stack (docker/), checked without a Docker engine: the file parses and has every
part (two API replicas behind nginx, the worker, Redis with AOF, PostgreSQL, MinIO and its
bucket, the secrets); every TUSD_* variable it sets is a setting; nginx streams bodies; and the
server and the worker start with exactly that environment, through the image's entrypoint and
the secrets docker/make-secrets.sh makes, the hostnames pointed at this test's Redis, moto S3 and
private PostgreSQL: /readyz answers 200."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

import boto3
import pytest
import yaml

from tests.fixtures.moto_server import free_port
from tusd_py.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    return document


def settings_variables() -> set[str]:
    return {f"TUSD_{name.upper()}" for section in Settings.sections().values() for name in section.model_fields}


def dockerfile_env() -> dict[str, str]:
    """The ENV lines of the image (KEY=value pairs)."""
    found: dict[str, str] = {}
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            found.update(pair.split("=", 1) for pair in line[4:].split())
    return found


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"api", "worker", "redis", "postgres", "minio", "minio-init", "nginx"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["tusd-py", "worker"]
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    bucket = services["api"]["environment"]["TUSD_S3_BUCKET"]
    assert f"mc mb --ignore-existing local/{bucket}" in " ".join(services["minio-init"]["entrypoint"])
    assert services["api"]["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}
    assert services["api"]["environment"] == services["worker"]["environment"]  # one configuration
    for name in services["api"]["secrets"]:
        assert compose["secrets"][name]["file"] == f"./secrets/{name}"
    assert "master_key" in services["api"]["secrets"] and "tusd_jwt_secret" in services["api"]["secrets"]


def test_every_tusd_variable_it_sets_is_a_setting(compose: dict[str, Any]) -> None:
    known = settings_variables()
    for name, service in compose["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith("TUSD_"):
                assert variable in known, f"{name} sets {variable}, which no settings section declares"
    for variable in dockerfile_env():
        assert not variable.startswith("TUSD_") or variable in known, variable
    for secret in compose["secrets"]:  # the entrypoint exports tusd_<name> as TUSD_<NAME>
        assert not secret.startswith("tusd_") or secret.upper() in known, secret


def test_every_hostname_it_names_is_a_service_of_the_stack(compose: dict[str, Any]) -> None:
    services = set(compose["services"])
    environment = compose["services"]["api"]["environment"]
    for variable in ("TUSD_S3_ENDPOINT_URL", "TUSD_REDIS_URL", "TUSD_DATABASE_URL"):
        assert urlsplit(environment[variable]).hostname in services, variable
    upstream = re.search(r"upstream tusd \{\s*server (\S+):(\d+);", (DOCKER / "nginx.conf").read_text())
    assert upstream and upstream.group(1) in services and upstream.group(2) == dockerfile_env()["TUSD_PORT"]


def test_the_build_context_sends_what_the_image_copies_and_no_secret() -> None:
    rules = [r for r in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "*"  # everything is left out but what is let in
    allowed = {r[1:] for r in rules if r.startswith("!")}
    copied = [
        part
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for part in line.split()[1:-1]
    ]
    assert copied and set(copied) <= allowed
    assert not any("secrets" in entry or ".venv" in entry for entry in allowed)


def test_nginx_streams_tus_bodies_to_the_servers() -> None:
    conf = (DOCKER / "nginx.conf").read_text()
    for directive in (
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "client_max_body_size 0;",
        "proxy_http_version 1.1;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    ):
        assert directive in conf, directive
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", conf)
    assert read_timeout and int(read_timeout[1]) >= 600  # uploads' answers and event streams wait long


def stack_environment(
    compose: dict[str, Any], tmp: Path, *, redis: str, s3: str, database: str, port: int
) -> dict[str, str]:
    """The API's environment as the image and compose give it, the services' hostnames pointed at
    this test's, the secrets folder at ``tmp/secrets`` and the listening address on 127.0.0.1."""
    secrets = tmp / "secrets"
    subprocess.run(["sh", str(DOCKER / "make-secrets.sh"), str(secrets)], check=True, capture_output=True)
    environment = {**dockerfile_env(), **compose["services"]["api"]["environment"]}
    rewritten = {
        "TUSD_HOST": "127.0.0.1",
        "TUSD_PORT": str(port),
        "TUSD_DATA_DIR": str(tmp / "data"),
        "TUSD_REDIS_URL": redis,
        "TUSD_S3_ENDPOINT_URL": s3,
        "TUSD_DATABASE_URL": database,
    }
    assert set(rewritten) <= set(environment)  # only what the stack sets is rewritten
    environment.update(rewritten)
    environment = {k: v.replace("/run/secrets/", f"{secrets}/") for k, v in environment.items()}
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**base, **environment, "SECRETS_DIR": str(secrets), "PATH": f"{BIN}:{base.get('PATH', '')}"}


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except URLError as exc:
        code = getattr(exc, "code", 0)
        return code, {}


def test_the_server_and_the_worker_start_with_the_stack_environment(
    compose: dict[str, Any], tmp_path: Path, redis_url: str, moto_endpoint: str, postgres_url: str
) -> None:
    bucket = compose["services"]["api"]["environment"]["TUSD_S3_BUCKET"]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)  # minio-init's job in the stack
    port = free_port()
    environment = stack_environment(
        compose, tmp_path, redis=redis_url, s3=moto_endpoint, database=postgres_url, port=port
    )
    entrypoint = ["sh", str(DOCKER / "entrypoint.sh")]
    logs = tmp_path / "api.log", tmp_path / "worker.log"
    with logs[0].open("wb") as out:
        api = subprocess.Popen([*entrypoint, "tusd-py", "serve"], env=environment, stdout=out, stderr=out)
    with logs[1].open("wb") as out:
        worker = subprocess.Popen([*entrypoint, "tusd-py", "worker"], env=environment, stdout=out, stderr=out)
    try:
        deadline, status, body = time.monotonic() + 60, 0, {}
        while time.monotonic() < deadline and api.poll() is None:
            status, body = readyz(port)
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, logs[0].read_text()
        assert body["status"] == "ready" and {"storage", "redis"} <= set(body["checks"])
        time.sleep(2)  # the worker has connected and runs (it would have exited on a bad setting)
        assert worker.poll() is None, logs[1].read_text()
        assert "worker_started" in logs[1].read_text()
    finally:
        for process in (api, worker):
            process.terminate()
        for process in (api, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
