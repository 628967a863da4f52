"""Hostile input on the signing API, over raw sockets against a real ``tusd-py serve`` on the S3
store (moto over HTTP): empty, truncated, oversized, duplicated and malformed requests each get
a 4xx (never a 500), and the server still answers afterwards."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator

import pytest

from tests.adversarial.server import Server, exchange, request, running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> Iterator[Server]:
    import boto3

    bucket = "hostile-direct"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    env = {
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": bucket,
        "TUSD_S3_ENDPOINT_URL": moto_endpoint,
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_DIRECT_UPLOADS": "true",
        "TUSD_MAX_SIZE": str(1024**3),
        "TUSD_MASTER_KEY": os.urandom(32).hex(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    with running(tmp_path_factory.mktemp("direct-hostile"), env) as srv:
        yield srv


def raw(method: str, target: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def post_json(target: str, doc: object) -> bytes:
    return raw("POST", target, json.dumps(doc).encode(), "Content-Type: application/json\r\n")


def status(server: Server, data: bytes) -> int:
    codes = request(server.port, data)
    assert len(codes) == 1, codes
    return codes[0]


def created(server: Server, size: int = 10 * 1024 * 1024) -> tuple[str, str]:
    answer = exchange(server.port, post_json("/s3/multipart", {"filename": "a.bin", "size": size}))
    doc = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return doc["uploadId"], doc["key"]


CREATE_CASES = [
    ("empty body", raw("POST", "/s3/multipart")),
    ("not JSON", raw("POST", "/s3/multipart", b"{not json")),
    ("a JSON array", post_json("/s3/multipart", [1, 2])),
    ("no size", post_json("/s3/multipart", {"filename": "a"})),
    ("size as bool", post_json("/s3/multipart", {"size": True})),
    ("negative size", post_json("/s3/multipart", {"size": -1})),
    ("size not digits", post_json("/s3/multipart", {"metadata": {"size": "12e3"}})),
    ("size of 30 digits", post_json("/s3/multipart", {"size": "9" * 30})),
    ("name with CR LF", post_json("/s3/multipart", {"size": 10, "filename": "a\r\nSet-Cookie: x"})),
    ("type as object", post_json("/s3/multipart", {"size": 10, "type": {"a": 1}})),
    ("metadata as list", post_json("/s3/multipart", {"size": 10, "metadata": ["a"]})),
    ("deeply nested", raw("POST", "/s3/multipart", b"[" * 50_000 + b"]" * 50_000)),
]


@pytest.mark.parametrize(("name", "data"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_malformed_creations_are_400(server: Server, name: str, data: bytes) -> None:
    assert status(server, data) in (400, 413), name


def test_oversized_and_too_large(server: Server) -> None:
    assert status(server, post_json("/s3/multipart", {"size": 1024**3 + 1})) == 413  # TUSD_MAX_SIZE
    huge = b'{"size": 10, "filename": "' + b"a" * 70_000 + b'"}'
    assert status(server, raw("POST", "/s3/multipart", huge)) == 413
    # announced far beyond the limit, body never sent: refused from the header alone
    head = b"POST /s3/multipart HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    assert status(server, head) == 413
    assert status(server, post_json("/s3/multipart", {"size": 0})) == 400  # empty: a single PUT instead


def test_truncated_body_then_the_server_still_answers(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b'POST /s3/multipart HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"size": 1')
    assert server.alive()
    upload_id, _ = created(server)
    assert re.fullmatch(r"[0-9a-f]{32}", upload_id)


def test_signing_and_listing_refuse_bad_numbers_keys_and_ids(server: Server) -> None:
    upload_id, key = created(server, 100 * 1024 * 1024)  # 20 parts at most
    base = f"/s3/multipart/{upload_id}"
    cases = {
        f"{base}/0?key={key}": 400,
        f"{base}/10001?key={key}": 400,
        f"{base}/123456789012?key={key}": 400,
        f"{base}/1234567890123?key={key}": 404,  # not a route at all
        f"{base}/1": 400,  # no key
        f"{base}/1?key={key}&key={key}": 400,  # duplicated
        f"{base}/1?key=other": 404,
        f"{base}/batch?key={key}": 400,  # no partNumbers
        f"{base}/batch?key={key}&partNumbers=": 400,
        f"{base}/batch?key={key}&partNumbers=1,1": 400,
        f"{base}/batch?key={key}&partNumbers=1,-2": 400,
        f"{base}/batch?key={key}&partNumbers=%EF%BC%91": 400,  # a full-width digit
        f"{base}/batch?key={key}&partNumbers=" + ",".join(str(n) for n in range(1, 102)): 400,
        f"{base}/21?key={key}": 400,  # beyond what 100 MiB in parts of 5 MiB or more can use
        f"{base}/batch?key={key}&partNumbers=1,21": 400,
        f"{base}/batch?key={key}&partNumbers=1&partNumbers=2": 400,
        f"/s3/multipart/{'f' * 32}?key={key}": 404,
        f"/s3/multipart/..%2F..?key={key}": 404,
        "/s3/params": 400,  # no size
        "/s3/params?size=10&filename=a&filename=b": 400,
        "/s3/params?size=abc": 400,
    }
    for target, expected in cases.items():
        assert status(server, raw("GET", target)) == expected, target
    assert status(server, raw("GET", f"{base}/1?key={key}")) == 200
    assert status(server, raw("GET", f"{base}/20?key={key}")) == 200
    assert status(server, raw("GET", f"{base}/batch?key={key}&partNumbers=1,2,3")) == 200


def test_completion_refuses_malformed_part_lists(server: Server) -> None:
    upload_id, key = created(server)
    target = f"/s3/multipart/{upload_id}/complete?key={key}"
    for body in ({}, {"parts": "x"}, {"parts": [{"PartNumber": "1", "ETag": "e"}]}, {"parts": [1]}):
        assert status(server, post_json(target, body)) == 400, body
    assert status(server, raw("POST", target, b"\xff\xfe")) == 400
    big = json.dumps({"parts": [{"PartNumber": 1, "ETag": "e" * 64}] * 20_000}).encode()
    assert status(server, raw("POST", target, big)) == 413
    assert status(server, post_json(target, {"parts": []})) == 400  # nothing uploaded yet: not complete
    assert status(server, raw("DELETE", f"/s3/multipart/{upload_id}?key={key}")) == 200
    assert status(server, raw("DELETE", f"/s3/multipart/{upload_id}?key={key}")) == 410
    assert server.alive()


def test_preflight_from_an_allowed_origin(server: Server) -> None:
    answer = exchange(
        server.port,
        b"OPTIONS /s3/multipart HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
        b"Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 204"), answer[:200]
