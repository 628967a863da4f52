"""A seeded raw-socket fuzz against a real server, on the file store and on the S3 store
(issue 11: "none of the tests sent what an attacker sends").

A few thousand malformed requests (fuzzcases.py) go out in batches over many connections at
once. After every batch:

* no answer was a 5xx other than 503 (busy, retry) and 507 (disk full): a 500 is a bug;
* the server still answers OPTIONS within a few seconds;
* the store holds no upload that no answer named: every id in it (data files and SQLite rows,
  or S3 objects, multipart uploads and Redis keys) was there before, or came back in a
  ``Location``, or belongs to a request the client cut short (marked ``fuzzcut`` in its
  metadata: that client left before the answer).

Before the fuzz a few uploads are made (complete, partial, half-done, deferred length); the
fuzz sends them wrong offsets, and the right offset only with something that must be refused.
Afterwards each still has its offset and, once finished, exactly its bytes. The server log must
hold no crash (an exception that became a 500 the fuzz may not have seen, e.g. on a cut request).

The seed is printed in every failure; TUSD_FUZZ_SEED replays a run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .deployments import Deployment
from .fuzzcases import CUT_KEY, OCTETS, Case, Fuzzer, Protected
from .server import Server, running
from .wire import Result, call, send_case, tus_create, tus_get, tus_head, tus_offset, tus_patch

SEED = int(os.environ.get("TUSD_FUZZ_SEED", "1103"))
BATCHES = 20
PER_BATCH = 200
WORKERS = 16
ALLOWED_5XX = {503, 507}


def make_protected(port: int, rng: random.Random) -> list[Protected]:
    """Uploads in every state, made with plain valid requests before the fuzz."""
    specs = [  # (size, stored offset, partial, deferred length)
        (3000, 3000, False, False),
        (600_000, 600_000, False, False),
        (5000, 1234, False, False),
        (700_000, 300_000, False, False),
        (4000, 1500, False, True),
        (100, 100, True, False),
        (2000, 2000, True, False),
    ]
    protected = []
    for size, offset, partial, defer in specs:
        data = rng.randbytes(size)
        path = tus_create(port, None if defer else size, partial=partial)
        sent = 0
        while sent < offset:  # at most 300 kB a PATCH: a big one is stored in several requests
            piece = data[sent : min(offset, sent + 300_000)]
            status, _, body = tus_patch(port, path, sent, piece)
            assert status == 204, (status, body)
            sent += len(piece)
        assert tus_offset(port, path) == offset
        protected.append(Protected(path, data, offset, partial, defer))
    return protected


def describe(seed: int, case: Case, result: Result) -> str:
    raw = case.raw if len(case.raw) < 700 else case.raw[:500] + b"..." + case.raw[-150:]
    return (
        f"[seed {seed}] {case.note} ({len(case.raw)} bytes sent"
        f"{', to protected ' + case.protected if case.protected else ''}):\n  request: {raw!r}\n"
        f"  answer: {result.data[:400]!r} error={result.error!r} after {result.seconds:.1f}s"
    )


def cut_marked(port: int, upload_id: str) -> bool:
    """Whether this upload was made by a cut-short creation request (its metadata says so)."""
    for _ in range(10):  # its request may still hold the lock (423) on a busy machine
        status, headers = tus_head(port, f"/files/{upload_id}")
        if status not in (423, 503):
            break
        time.sleep(0.5)
    keys = [pair.split(" ")[0] for pair in headers.get("upload-metadata", "").split(",")]
    return status == 200 and CUT_KEY in keys


_TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n(?:[ \t].*\n|\n)*(\S.*)")


# aiohttp's own 400 for an unparsable request; a write (100 Continue) to a client that already left.
BENIGN = ("aiohttp.http_exceptions.", "aiohttp.client_exceptions.ClientConnectionResetError: Cannot write to closing")


def crashes(log: Path) -> list[str]:
    """Exceptions in the server log other than aiohttp's own answers to unparsable requests (400)."""
    text = log.read_text(errors="replace")
    found = [
        m.group(1)
        for m in _TRACEBACK.finditer(text)
        if not m.group(1).startswith(BENIGN)
    ]
    found += [line for line in text.splitlines() if "request_crashed" in line]
    return found


def check_protected(server: Server, protected: list[Protected], seed: int) -> None:
    port = server.port
    for p in protected:
        assert tus_offset(port, p.path) == p.offset, f"[seed {seed}] {p.path} lost or gained bytes in the fuzz"
    for p in protected:
        if not p.complete and not p.defer:
            # a chunked body that runs past Upload-Length, at the right offset: 413 and nothing of it stored
            rest = len(p.data) - p.offset
            over = random.Random(seed).randbytes(rest + 1000)
            chunks = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (over[:rest], over[rest:]))
            chunks += b"0\r\n\r\n"
            raw = (
                f"PATCH {p.path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {p.offset}\r\n"
                f"Content-Type: {OCTETS}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode() + chunks
            status, _, body = call(port, raw)
            assert status == 413, (p.path, status, body)
            assert tus_offset(port, p.path) == p.offset, f"{p.path}: a refused chunked body left bytes behind"
        if not p.complete:
            extra = f"Upload-Length: {len(p.data)}\r\n" if p.defer else ""
            status, _, body = tus_patch(port, p.path, p.offset, p.data[p.offset :], extra)
            assert status == 204, (p.path, status, body)
    for p in protected:
        got = tus_get(port, p.path)
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(p.data).hexdigest(), (
            f"[seed {seed}] {p.path}: {len(got)} bytes after the fuzz, not the {len(p.data)} sent"
        )


def test_fuzz(deployment: Deployment, tmp_path: Path) -> None:
    seed = SEED + (0 if deployment.kind == "file" else 1)
    rng = random.Random(seed)
    with running(tmp_path, deployment.env) as server, ThreadPoolExecutor(WORKERS) as pool:
        protected = make_protected(server.port, rng)
        fuzzer = Fuzzer(seed, protected)
        baseline = deployment.upload_ids(server.data_dir)
        assert {p.path.rsplit("/", 1)[1] for p in protected} <= baseline, "the inventory misses the store's uploads"
        named: set[str] = set()  # ids some answer's Location named
        cut_made: set[str] = set()  # ids made by cut-short creation requests
        bad: list[str] = []
        timeouts: list[str] = []
        statuses: dict[int, int] = {}
        started = time.monotonic()
        sending = 0.0
        for batch in range(BATCHES):
            cases = [fuzzer.case() for _ in range(PER_BATCH)]
            sent_at = time.monotonic()
            results = list(
                pool.map(lambda ic: send_case(server.port, ic[1], seed=seed * 100_000 + ic[0]), enumerate(cases))
            )
            sending += time.monotonic() - sent_at
            for case, result in zip(cases, results, strict=True):
                for status in result.statuses:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status >= 500 and status not in ALLOWED_5XX:
                        bad.append(describe(seed, case, result))
                if result.timed_out:
                    timeouts.append(describe(seed, case, result))
                for upload_id in result.locations:
                    if upload_id not in named:
                        named.add(upload_id)
                        fuzzer.mine.append(f"/files/{upload_id}")
            assert server.alive(timeout=5), f"[seed {seed}] batch {batch}: the server stopped answering"
            left = deployment.upload_ids(server.data_dir) - baseline - named - cut_made
            for upload_id in sorted(left):
                if cut_marked(server.port, upload_id):
                    cut_made.add(upload_id)
            left -= cut_made
            if left:
                unanswered = [
                    describe(seed, case, result)
                    for case, result in zip(cases, results, strict=True)
                    if not case.cut and (result.timed_out or not result.statuses)
                ]
                raise AssertionError(
                    f"[seed {seed}] batch {batch}: uploads no answer named were left in the store: "
                    + "; ".join(f"{upload_id}: {deployment.traces(server.data_dir, upload_id)}" for upload_id in left)
                    + f"\n{len(unanswered)} requests of this batch got no answer:\n"
                    + "\n".join(unanswered[:10])
                )
        elapsed = time.monotonic() - started
        summary = (
            f"[seed {seed}] {BATCHES * PER_BATCH} requests in {elapsed:.1f}s ({sending:.1f}s sending) on {deployment}, "
            f"statuses {statuses}, "
            f"{len(named)} uploads created, {len(cut_made)} by cut requests"
        )
        print(summary)
        assert not bad, f"{summary}\n{len(bad)} answers were 5xx:\n" + "\n".join(bad[:20])
        assert not timeouts, f"{summary}\n{len(timeouts)} complete requests got no answer:\n" + "\n".join(timeouts[:10])
        check_protected(server, protected, seed)
        assert server.alive()
        # a last look: cut requests the server was still finishing when the last batch ended
        time.sleep(0.5)
        left = deployment.upload_ids(server.data_dir) - baseline - named - cut_made
        left = {upload_id for upload_id in left if not cut_marked(server.port, upload_id)}
        assert not left, f"[seed {seed}] uploads no answer named were left in the store: {left}"
    found = crashes(server.log)
    assert not found, f"[seed {seed}] the server log shows crashes: {found[:10]}"



def _upload_exists(port: int, path: str) -> bool:
    return tus_head(port, path)[0] == 200


def test_the_refusals_issue_11_asked_for(deployment: Deployment, tmp_path: Path) -> None:
    """The exact requests issue 11 asks the server to refuse:
    X-HTTP-Method-Override on anything but POST (a GET that deletes), CR/LF in a metadata value
    read as text (header injection on download), a partial listed twice in a final upload."""
    with running(tmp_path, deployment.env) as server:
        port = server.port
        for method in ("GET", "HEAD", "PATCH", "OPTIONS"):
            path = tus_create(port, 3)
            raw = (
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nX-HTTP-Method-Override: DELETE\r\n"
                f"Upload-Offset: 0\r\nContent-Type: {OCTETS}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            status, _, body = call(port, raw.encode())
            assert status < 500, (method, status, body)
            assert _upload_exists(port, path), f"{method} with X-HTTP-Method-Override: DELETE deleted the upload"
        for value in (b"a\r\nSet-Cookie: x=1", b"a\nb", b"a\rb", b"\x00"):
            encoded = base64.b64encode(value).decode()
            raw = (
                "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 3\r\n"
                f"Upload-Metadata: filename {encoded}\r\nConnection: close\r\n\r\n"
            )
            status, headers, body = call(port, raw.encode())
            assert status == 400, (value, status, headers, body)
        partial = tus_create(port, 3, partial=True)
        assert tus_patch(port, partial, 0, b"abc")[0] == 204
        before = deployment.upload_ids(server.data_dir)
        for listing in (f"{partial} {partial}", f"{partial} http://x{partial}", f"{partial} {partial} {partial}"):
            raw = (
                f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Concat: final;{listing}\r\n"
                "Connection: close\r\n\r\n"
            )
            status, _, body = call(port, raw.encode())
            assert status == 400, (listing, status, body)
        assert deployment.upload_ids(server.data_dir) == before, "a refused final upload left something behind"


def test_conflicting_duplicate_tus_headers_are_refused(tmp_path: Path) -> None:
    """Two Upload-Length or Upload-Offset values are refused: the server would act on the first,
    while a proxy in front may act on the last."""
    with running(tmp_path) as server:
        port = server.port
        raw = (
            "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 5\r\nUpload-Length: 7\r\n"
            "Connection: close\r\n\r\n"
        )
        creation, _, _ = call(port, raw.encode())
        path = tus_create(port, 10)
        patch, _, _ = tus_patch(port, path, 0, b"abc", "Upload-Offset: 3\r\n")
        assert (creation, patch) == (400, 400)
        assert tus_offset(port, path) == 0  # nothing of the refused PATCH was stored
        assert server.alive()
