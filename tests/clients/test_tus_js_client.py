"""tus-js-client (npm, run by Node) against a real ``tusd-py serve`` (issue 2 §4, issue 3 tests).

Each upload is 20 MiB with ``abort()`` forced mid-PATCH once progress passes 40%; a new client
(a new Node process) then resumes from the offset the server reports on HEAD. The finished
bytes are compared by sha256, downloaded and as the store holds them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import (
    SIZE,
    TusServer,
    assert_stored,
    decode_metadata,
    head,
    start_server,
    upload_id,
)
from tests.fixtures.moto_server import free_port

JS_DIR = Path(__file__).parent / "js"
METADATA = {"filename": "clip été 20MiB.bin", "filetype": "application/octet-stream"}
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def node() -> str:
    binary = shutil.which("node")
    if binary is None:
        pytest.skip("node is not installed (the real-client tests need Node and tus-js-client)")
    if not (JS_DIR / "node_modules" / "tus-js-client").is_dir():
        pytest.fail(f"tus-js-client is not installed in {JS_DIR}/node_modules: run make services")
    return binary


def run_client(node: str, **options: Any) -> dict[str, Any]:
    """One tus-js-client run in its own Node process; returns upload.mjs's report."""
    proc = subprocess.run(
        [node, str(JS_DIR / "upload.mjs"), json.dumps(options)],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.strip(), f"upload.mjs printed nothing (exit {proc.returncode}):\n{proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def requests_of(report: dict[str, Any], method: str) -> list[dict[str, Any]]:
    return [r for r in report["requests"] if r["method"] == method]


@pytest.mark.parametrize("chunk_size", [1 * MiB, None], ids=["1MiB-patches", "single-patch"])
def test_aborted_upload_resumes_in_a_new_client(
    node: str, tus_server: TusServer, payload: Path, chunk_size: int | None
) -> None:
    data = payload.read_bytes()
    common: dict[str, Any] = {"file": str(payload), "chunkSize": chunk_size}

    first = run_client(node, **common, endpoint=tus_server.endpoint, metadata=METADATA, abortAt=0.4, paceMs=3)
    assert first["event"] == "aborted", first
    url = first["url"]
    (post,) = requests_of(first, "POST")
    assert post["status"] == 201

    server_offset = int(head(url)["Upload-Offset"])
    assert 0 < server_offset < SIZE, f"nothing to resume: the server has {server_offset} of {SIZE} bytes"
    if chunk_size is None:  # the single PATCH was cut mid-body: the server kept what it had received
        assert server_offset <= first["bytesSent"]

    second = run_client(node, **common, uploadUrl=url)
    assert second["event"] == "success", second
    # It asked the server where to go on and really started there, not at 0 nor at the end.
    assert second["requests"][0]["method"] == "HEAD"
    assert int(second["requests"][0]["gotOffset"]) == server_offset
    patches = requests_of(second, "PATCH")
    assert int(patches[0]["sentOffset"]) == server_offset
    # No retries were needed: the lock of the aborted PATCH was released, no 423, no 409.
    assert all(200 <= r["status"] < 300 for r in second["requests"]), second["requests"]
    if chunk_size is None:
        assert len(patches) == 1
    else:
        assert len(requests_of(first, "PATCH")) + len(patches) >= SIZE // chunk_size

    final = head(url)
    assert final["Upload-Metadata"] == post["sentMetadata"]  # echoed exactly as sent
    assert decode_metadata(final["Upload-Metadata"]) == METADATA
    assert_stored(tus_server, url, data)


def test_upload_to_the_server_as_make_run_starts_it(node: str, payload: Path, tmp_path: Path) -> None:
    """``make run`` is ``tusd-py serve`` with no settings: file store under ./data of its cwd."""
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSD_")}
    port = free_port()  # the one setting changed: 1080 may be taken on a shared machine
    server = start_server({**env, "TUSD_PORT": str(port)}, tmp_path / "server.log", cwd=cwd)
    try:
        # The embedded default has local accounts: a newcomer registers and logs in first (README).
        from tests.clients.test_clients_bearer import assert_owned, login  # it imports this module

        auth = login(f"http://127.0.0.1:{port}")
        endpoint = f"http://127.0.0.1:{port}/files/"
        report = run_client(node, file=str(payload), endpoint=endpoint, metadata=METADATA, headers=auth)
        assert report["event"] == "success", report
        url = report["url"]
        assert url.startswith(f"http://127.0.0.1:{port}/files/")
        tus = TusServer("file", server, lambda uid: (cwd / "data" / "uploads" / uid).read_bytes())
        assert_owned(tus, url, payload.read_bytes(), auth)
        assert (cwd / "data" / "uploads" / upload_id(url)).stat().st_size == SIZE
    finally:
        server.stop()
