"""A real ``tusd-py serve`` for the real-client tests, in the two configurations users run:
the embedded default (file store, in-process state) and S3 (moto) + Redis.

The S3 variant reuses the e2e ``cluster`` fixture (one server started from it), so both test
families run the server the same way.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_multi_instance import TUSD_PY, cluster, wait_listening
from tests.fixtures.moto_server import free_port
from tests.fixtures.process import ServerProcess

__all__ = ["cluster"]  # the S3 variant asks for it by name

MiB = 1024 * 1024
SIZE = 20 * MiB
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class TusServer:
    kind: str
    server: ServerProcess
    stored: Callable[[str], bytes]  # the bytes the store holds for a finished upload id

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/files/"


def start_server(env: dict[str, str], log: Path, *, cwd: Path | None = None) -> ServerProcess:
    port = int(env["TUSD_PORT"])
    with log.open("ab") as out:
        proc = subprocess.Popen([str(TUSD_PY), "serve"], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(port, proc, log)
    try:
        wait_listening(server)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(params=["file", "s3"])
def tus_server(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TusServer]:
    if request.param == "s3":
        # An S3 setup never creates a master key itself; an operator supplies one, as here. The
        # cluster's server environment is copied from os.environ when the fixture starts.
        monkeypatch.setenv("TUSD_MASTER_KEY", os.urandom(32).hex())
        started = request.getfixturevalue("cluster")  # stops its servers itself
        yield TusServer("s3", started.start(), started.object)
        return
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "TUSD_HOST": "127.0.0.1",
        "TUSD_PORT": str(free_port()),
        "TUSD_STORE": "file",
        "TUSD_DATA_DIR": str(data_dir),
    }
    server = start_server(env, tmp_path / "server.log")
    try:
        yield TusServer("file", server, lambda upload_id: (data_dir / "uploads" / upload_id).read_bytes())
    finally:
        server.stop()


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """20 MiB of random bytes in a file, as a user would upload it."""
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def head(url: str) -> httpx.Headers:
    response = httpx.head(url, headers=TUS, timeout=60)
    assert response.status_code == 200, response.text
    return response.headers


def download(url: str) -> bytes:
    response = httpx.get(url, headers=TUS, timeout=60)
    assert response.status_code == 200, response.text[:200]
    return response.content


def upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def decode_metadata(header: str) -> dict[str, str]:
    pairs = (item.strip().partition(" ") for item in header.split(",") if item.strip())
    return {key: base64.b64decode(value).decode() for key, _, value in pairs}


def assert_stored(tus: TusServer, url: str, data: bytes) -> None:
    """The finished upload, downloaded over HTTP and read from the store itself, is ``data``."""
    final = head(url)
    assert int(final["Upload-Offset"]) == len(data) == int(final["Upload-Length"])
    assert sha256(download(url)) == sha256(data)
    assert sha256(tus.stored(upload_id(url))) == sha256(data), f"{tus.kind} store holds other bytes"
