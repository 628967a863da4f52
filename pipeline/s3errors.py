"""What an error of the S3 SDK means to its caller, decided once for every edge that calls S3.

``classify_s3_error`` sorts an exception into one of three faults, and ``translate_s3_errors``
raises the caller's own error for each (the pipeline's ``assets.s3_errors``, the tus store's
``map_s3_errors``)::

    NoSuchUpload / NoSuchKey / NotFound / 404                      -> MISSING
    throttling, 5xx, 429, RequestTimeout, OperationAborted,
    connection refused/reset/closed, timeouts                       -> TRANSIENT (retry shortly)
    anything else (AccessDenied, NoSuchBucket, InvalidPart,
    bad credentials...)                                             -> FAILED (a bug or misconfiguration)

A transient failure must never become a 4xx at the server: tus-js-client starts an upload
over on most 4xx.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

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


class S3Fault(enum.Enum):
    MISSING = "missing"
    TRANSIENT = "transient"
    FAILED = "failed"


@dataclass(frozen=True)
class S3Error:
    """An SDK error as its caller sees it: the fault and a message naming the operation."""

    fault: S3Fault
    message: str


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_transport_error(exc: BaseException) -> bool:
    # aiohttp errors may escape aiobotocore while a body streams; they are recognised by their
    # module, so that neither the pipeline's library code nor the stores import aiohttp.
    return isinstance(exc, OSError | TimeoutError) or type(exc).__module__.startswith("aiohttp")


def classify_s3_error(operation: str, exc: BaseException) -> S3Error | None:
    """The fault of ``exc`` raised by the S3 ``operation``; None if it is no error of the SDK or
    of its HTTP transport (the caller lets it through)."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc), _status(exc)
        if code in NOT_FOUND_CODES or status == 404:
            return S3Error(S3Fault.MISSING, f"S3 {operation}: {code or status}")
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return S3Error(S3Fault.TRANSIENT, f"S3 {operation} failed ({code or status}); retry shortly")
        return S3Error(S3Fault.FAILED, f"S3 {operation} failed: {code or status}")
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return S3Error(S3Fault.TRANSIENT, f"S3 {operation}: storage unreachable ({exc.__class__.__name__})")
    if isinstance(exc, BotoCoreError):
        return S3Error(S3Fault.FAILED, f"S3 {operation} failed: {exc}")
    if _is_transport_error(exc):
        return S3Error(S3Fault.TRANSIENT, f"S3 {operation}: connection trouble ({exc.__class__.__name__})")
    return None


@asynccontextmanager
async def translate_s3_errors(
    operation: str,
    *,
    missing: Callable[[str], Exception],
    transient: Callable[[str], Exception],
    failed: Callable[[str], Exception],
) -> AsyncIterator[None]:
    """Raise the caller's error for the fault of an SDK error raised inside the block, made from
    its message (``raise ... from``); any other exception passes unchanged."""
    try:
        yield
    except Exception as exc:
        error = classify_s3_error(operation, exc)
        if error is None:
            raise
        make = {S3Fault.MISSING: missing, S3Fault.TRANSIENT: transient, S3Fault.FAILED: failed}[error.fault]
        raise make(error.message) from exc
