"""``tusd-py users`` against the embedded default's database, seen by a real server; and the
start-up refusals of identity settings (``tusd-py serve``)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.adversarial.server import TUSD_PY, request, running

from .test_hostile import PASSWORD, access_token, post, status


def users(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUSD_DATA_DIR": str(data_dir), "TUSD_AUTH": "local", "TUSD_LOG_LEVEL": "warning"}
    return subprocess.run(
        [str(TUSD_PY), "users", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def login(port: int, email: str) -> int:
    return status(post(port, "/auth/login", json.dumps({"email": email, "password": PASSWORD}).encode()))


def test_create_list_disable_enable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = users(data, "create", " Ops@Example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created ops@example.com (")
    again = users(data, "create", "ops@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "has an account already" in again.stderr
    short = users(data, "create", "short@example.com", "--password-stdin", stdin="123\n")
    assert short.returncode == 1 and "too short" in short.stderr
    listed = users(data, "list")
    assert listed.returncode == 0
    assert "ops@example.com" in listed.stdout and "active" in listed.stdout and "short@" not in listed.stdout
    with running(tmp_path, {"TUSD_AUTH": "local", "TUSD_COOKIE_SECURE": "false"}) as server:
        token = access_token(server, "ops@example.com")
        me = f"GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        assert request(server.port, me) == [200]
        disabled = users(data, "disable", "ops@example.com")
        assert disabled.returncode == 0 and "disabled" in disabled.stdout
        assert login(server.port, "ops@example.com") == 401
        time.sleep(1.2)  # the server's session cache (1 s); the CLI ended the sessions in the database
        assert request(server.port, me) == [401]  # the token from before is dead too
        assert "disabled" in users(data, "list").stdout
        assert users(data, "enable", "ops@example.com").returncode == 0
        assert login(server.port, "ops@example.com") == 200
    missing = users(data, "disable", "nobody@example.com")
    assert missing.returncode == 1 and "no account nobody@example.com" in missing.stderr


def test_s3_without_a_token_secret_does_not_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TUSD_AUTH": "local",
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": "uploads",
        "TUSD_MASTER_KEY": "11" * 32,
        "TUSD_DATA_DIR": str(tmp_path / "data"),
        "TUSD_PORT": "0",
    }
    env.pop("TUSD_JWT_SECRET", None)
    done = subprocess.run([str(TUSD_PY), "serve"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "cannot start: TUSD_JWT_SECRET is required with TUSD_STORE=s3" in done.stderr
    assert "Traceback" not in done.stderr
