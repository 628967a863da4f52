"""The core's errors as each interop version words them.

The service raises tus errors (``OffsetMismatch``, ``UploadSizeExceeded``...). A draft request
gets the draft's problem type where its interop version defines one (``MismatchingUploadOffset``,
``CompletedUpload``, ``InconsistentUploadLength``: rendered as ``application/problem+json`` by
``web/middlewares.py``, by type), and the plain error with the same status where it does not.
Every error answered after the upload exists also carries the state headers the drafts ask for
(``Upload-Offset`` where known, the completeness header, ``Location`` after a creation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..protocol.errors import (
    BadRequest,
    CompletedUpload,
    InconsistentUploadLength,
    InvalidLength,
    MismatchingUploadOffset,
    OffsetMismatch,
    TusError,
    UploadSizeExceeded,
)
from .fields import boolean
from .versions import COMPLETED_UPLOAD, INCONSISTENT_LENGTH, MISMATCHING_OFFSET, InteropVersion


def mismatching_offset(version: InteropVersion, expected: int, provided: int) -> TusError:
    if version.defines(MISMATCHING_OFFSET):
        return MismatchingUploadOffset(expected, provided)
    return OffsetMismatch(expected, f"mismatched offset: the upload is at {expected}, not {provided}")


def inconsistent_length(version: InteropVersion, message: str) -> TusError:
    if version.defines(INCONSISTENT_LENGTH):
        return InconsistentUploadLength(message)
    return InvalidLength(message)


def completed(version: InteropVersion, *, with_content: bool) -> TusError:
    """An append to a complete upload. Content there is an inconsistent length (-10 on); an
    empty append is the completed-upload problem (-04 on); before that, a plain 400."""
    error: TusError
    if with_content and version.defines(INCONSISTENT_LENGTH):
        error = InconsistentUploadLength("the upload is complete: no more content can be appended")
    elif version.defines(COMPLETED_UPLOAD):
        error = CompletedUpload("the upload is complete and cannot be modified")
    else:
        error = BadRequest("the upload is complete and cannot be modified")
    error.headers[version.complete_header] = boolean(version.complete_value(True))
    return error


@contextmanager
def worded(version: InteropVersion, *, provided_offset: int | None = None, location: str = "") -> Iterator[None]:
    """Translate what the service raises inside the block, and add the drafts' state headers."""
    try:
        yield
    except TusError as exc:
        error = exc
        if isinstance(exc, OffsetMismatch) and not isinstance(exc, MismatchingUploadOffset):
            provided = exc.current_offset if provided_offset is None else provided_offset
            error = mismatching_offset(version, exc.current_offset, provided)
        elif isinstance(exc, UploadSizeExceeded) or (
            isinstance(exc, InvalidLength) and not isinstance(exc, InconsistentUploadLength)
        ):
            # more content than the recorded length, or a length that contradicts it: a 400 in
            # every draft (-05: "reject the request with a 400 (Bad Request)")
            error = inconsistent_length(version, exc.message)
        if error is not exc:
            error.headers.update({k: v for k, v in exc.headers.items() if k not in error.headers})
        error.headers.setdefault(version.complete_header, boolean(version.complete_value(False)))
        if location:
            error.headers.setdefault("Location", location)
        if error is exc:
            raise
        raise error from exc
