"""The S3 calls the store makes (``S3Client``), how the client is opened, and the one place
where SDK errors become protocol errors (``map_s3_errors``, after httpx's
``map_httpcore_exceptions``).

Translation table, by the fault ``pipeline.s3errors.classify_s3_error`` finds (the pipeline's
asset store sorts S3 errors the same way)::

    MISSING (NoSuchUpload / NoSuchKey / NotFound / 404)   -> ``missing`` (UploadNotFound unless told otherwise)
    TRANSIENT (throttling, 5xx, timeouts, connection)     -> StorageUnavailable (503: tus clients retry)
    FAILED (AccessDenied, NoSuchBucket, InvalidPart...)   -> TusError (500: a server-side bug or misconfiguration)

A transient failure is never a 4xx: tus-js-client starts an upload over on most 4xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from pipeline.s3errors import translate_s3_errors

from ...protocol.errors import StorageUnavailable, TusError, UploadNotFound


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
    async def head_bucket(self, **kwargs: Any) -> dict[str, Any]: ...  # readiness only
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
        signature_version="s3v4",  # presigned URLs too (SigV2 is refused by newer regions and by SSE-KMS)
    )
    client: AbstractAsyncContextManager[S3Client] = get_session().create_client(
        "s3", endpoint_url=endpoint_url or None, region_name=region, config=config
    )
    return client


_STARTED = "tusd_py.started"


def time_calls(client: Any, record: Callable[[str, float], None]) -> None:
    """Report every S3 call's duration (retries included) to ``record(operation, seconds)``,
    through botocore's event hooks: one clock read before and one after each call, failures too.
    A client without botocore's ``meta.events`` (a test double) is left alone."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return

    def before(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.monotonic()

    def after(event_name: str, context: dict[str, Any], **_: Any) -> None:
        started = context.pop(_STARTED, None)
        if started is not None:
            record(event_name.rsplit(".", 1)[-1], time.monotonic() - started)

    events.register("before-call.s3", before, unique_id="tusd_py.s3.before")
    events.register("after-call.s3", after, unique_id="tusd_py.s3.after")
    events.register("after-call-error.s3", after, unique_id="tusd_py.s3.error")


def map_s3_errors(
    operation: str, *, missing: Callable[[str], TusError] | None = UploadNotFound
) -> AbstractAsyncContextManager[None]:
    """Translate SDK errors raised inside the block. ``missing=None`` lets not-found errors through
    as ``UploadNotFound`` too, but callers that expect absence catch it themselves."""
    return translate_s3_errors(
        operation, missing=missing or UploadNotFound, transient=StorageUnavailable, failed=TusError
    )
