"""The S3 calls the store makes (``S3Client``), how the client is opened, and the one place
where SDK errors become protocol errors (``map_s3_errors``, after httpx's
``map_httpcore_exceptions``).

Translation table::

    NoSuchUpload / NoSuchKey / NotFound / 404   -> ``missing`` (UploadNotFound unless told otherwise)
    throttling, 5xx, RequestTimeout, OperationAborted,
    connection refused/reset/closed, timeouts     -> StorageUnavailable (503: tus clients retry)
    anything else (AccessDenied, NoSuchBucket,
    InvalidPart, bad credentials...)              -> TusError (500: a server-side bug or misconfiguration)

A transient failure is never a 4xx: tus-js-client starts an upload over on most 4xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ...protocol.errors import StorageUnavailable, TusError, UploadNotFound

NOT_FOUND_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "NotFound", "404"})
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "OperationAborted",
    }
)


class S3Client(Protocol):
    """Only the S3 operations the store uses (tusd's ``S3API``). aiobotocore's client fits."""

    async def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def upload_part(self, **kwargs: Any) -> dict[str, Any]: ...
    async def upload_part_copy(self, **kwargs: Any) -> dict[str, Any]: ...
    async def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def put_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def get_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def head_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def delete_objects(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_paginator(self, operation_name: str) -> Any:
        """``list_parts`` and ``list_objects_v2`` pages (botocore's paginators)."""


ATTEMPTS = 6  # per S3 call, the first one included: about 15 s of backoff at most on average


def open_client(
    *,
    endpoint_url: str = "",
    region: str = "us-east-1",
    path_style: bool = False,
    max_connections: int = 32,
    attempts: int = ATTEMPTS,
) -> AbstractAsyncContextManager[S3Client]:
    """An aiobotocore S3 client; credentials come from the usual AWS_* variables.

    botocore retries what is transient (throttling, 5xx, timeouts, connection trouble) with
    exponential backoff and jitter ("standard" mode), ``attempts`` tries per call; a part is
    rewound and resent whole under its own number (``PartStream`` is seekable). What still
    fails is translated by ``map_s3_errors``."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=max_connections,
        request_checksum_calculation="when_required",
    )
    client: AbstractAsyncContextManager[S3Client] = get_session().create_client(
        "s3", endpoint_url=endpoint_url or None, region_name=region, config=config
    )
    return client


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_transport_error(exc: BaseException) -> bool:
    # aiohttp errors may escape aiobotocore while a body streams; stores may not import
    # aiohttp (tests/test_imports.py), so they are recognised by their module.
    return isinstance(exc, OSError | TimeoutError) or type(exc).__module__.startswith("aiohttp")


@asynccontextmanager
async def map_s3_errors(
    operation: str, *, missing: Callable[[str], TusError] | None = UploadNotFound
) -> AsyncIterator[None]:
    """Translate SDK errors raised inside the block. ``missing=None`` lets not-found errors through
    as ``UploadNotFound`` too, but callers that expect absence catch it themselves."""
    try:
        yield
    except ClientError as exc:
        code, status = error_code(exc), _status(exc)
        if code in NOT_FOUND_CODES or status == 404:
            raise (missing or UploadNotFound)(f"S3 {operation}: {code or status}") from exc
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            raise StorageUnavailable(f"S3 {operation} failed ({code or status}); retry shortly") from exc
        raise TusError(f"S3 {operation} failed: {code or status}") from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StorageUnavailable(f"S3 {operation}: storage unreachable ({exc.__class__.__name__})") from exc
    except BotoCoreError as exc:
        raise TusError(f"S3 {operation} failed: {exc}") from exc
    except Exception as exc:
        if _is_transport_error(exc):
            raise StorageUnavailable(f"S3 {operation}: connection trouble ({exc.__class__.__name__})") from exc
        raise
