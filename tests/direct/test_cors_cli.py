"""``tusd-py s3 cors``: the bucket rule browsers need to PUT parts straight to S3 (moto over HTTP)."""

from __future__ import annotations

import urllib.request

import boto3
import pytest

from tusd_py.__main__ import main


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, s3_bucket: str) -> str:
    monkeypatch.setenv("TUSD_STORE", "s3")
    monkeypatch.setenv("TUSD_S3_BUCKET", s3_bucket)
    monkeypatch.setenv("TUSD_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("TUSD_S3_PATH_STYLE", "true")
    return s3_bucket


def test_cors_rule_is_applied_and_answers_a_preflight(
    s3_env: str, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["s3", "cors", "--origin", "https://app.example", "--origin", "http://localhost:5173"]) == 0
    assert "CORS configuration replaced" in capsys.readouterr().out
    rules = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").get_bucket_cors(Bucket=s3_env)
    (rule,) = rules["CORSRules"]
    assert rule["AllowedOrigins"] == ["https://app.example", "http://localhost:5173"]
    assert rule["AllowedMethods"] == ["PUT", "POST"] and rule["ExposeHeaders"] == ["ETag"]
    # the browser's preflight of a part PUT, as the bucket answers it
    preflight = urllib.request.Request(
        f"{moto_endpoint}/{s3_env}/some-key?partNumber=1&uploadId=x",
        method="OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"},
    )
    with urllib.request.urlopen(preflight, timeout=10) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    "origin", ["app.example", "https://app.example/path", "ftp://x", "https://a b", "https://x:99999"]
)
def test_a_bad_origin_is_refused_before_the_bucket_is_touched(
    s3_env: str, origin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["s3", "cors", "--origin", origin]) == 2
    assert "tusd-py s3 cors:" in capsys.readouterr().err
