"""One sorting of S3 SDK errors, translated at each edge into that edge's own errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from pipeline.assets import AssetNotFound, s3_errors
from pipeline.errors import StorageError, StorageUnavailable
from pipeline.s3errors import S3Fault, classify_s3_error
from tusd_py.protocol.errors import StorageUnavailable as ServerUnavailable
from tusd_py.protocol.errors import TusError, UploadNotFound
from tusd_py.stores.s3.client import map_s3_errors


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (client_error("NoSuchKey", 404), S3Fault.MISSING),
        (client_error("", 404), S3Fault.MISSING),
        (client_error("SlowDown", 503), S3Fault.TRANSIENT),
        (client_error("Whatever", 500), S3Fault.TRANSIENT),
        (client_error("", 429), S3Fault.TRANSIENT),
        (client_error("AccessDenied", 403), S3Fault.FAILED),
        (EndpointConnectionError(endpoint_url="http://s3"), S3Fault.TRANSIENT),
        (NoCredentialsError(), S3Fault.FAILED),
        (ConnectionResetError(), S3Fault.TRANSIENT),
        (TimeoutError(), S3Fault.TRANSIENT),
    ],
)
def test_each_sdk_error_has_one_fault(exc: Exception, fault: S3Fault) -> None:
    error = classify_s3_error("GetObject", exc)
    assert error is not None and error.fault is fault and "GetObject" in error.message


def test_other_errors_are_not_the_sdk_s() -> None:
    assert classify_s3_error("GetObject", ValueError("a bug")) is None


@pytest.mark.parametrize(
    ("exc", "pipeline_error", "server_error"),
    [
        (client_error("NoSuchKey", 404), AssetNotFound, UploadNotFound),
        (client_error("SlowDown", 503), StorageUnavailable, ServerUnavailable),
        (client_error("AccessDenied", 403), StorageError, TusError),
    ],
)
async def test_each_edge_raises_its_own_error(exc: Exception, pipeline_error: type, server_error: type) -> None:
    with pytest.raises(pipeline_error) as raised:
        async with s3_errors("GetObject", "media/x/a.ts"):
            raise exc
    assert type(raised.value) is pipeline_error and raised.value.__cause__ is exc
    with pytest.raises(server_error) as served:
        async with map_s3_errors("GetObject"):
            raise exc
    assert type(served.value) is server_error and served.value.__cause__ is exc
    with pytest.raises(ValueError):  # not the SDK's: unchanged
        async with map_s3_errors("GetObject"):
            raise ValueError("a bug")
