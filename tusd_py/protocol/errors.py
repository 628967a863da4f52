"""Typed protocol errors. Each class means one thing and carries its HTTP status.

The web layer renders them in one place (``web/middlewares.py``); stores raise them
(or translate SDK errors into them) so that no SDK exception reaches a handler.

Hierarchy::

    TusError
    ├── BadRequest                400 ERR_BAD_REQUEST
    │   ├── InvalidOffset         400 ERR_INVALID_OFFSET
    │   ├── InvalidLength         400 ERR_INVALID_UPLOAD_LENGTH
    │   │   └── InconsistentUploadLength 400 ERR_INCONSISTENT_UPLOAD_LENGTH (a draft problem type)
    │   ├── InvalidMetadata       400 ERR_INVALID_METADATA
    │   ├── InvalidChecksum       400 ERR_INVALID_CHECKSUM (malformed or unsupported algorithm)
    │   ├── InvalidConcat         400 ERR_INVALID_CONCAT
    │   ├── InvalidMethodOverride 400 ERR_INVALID_METHOD_OVERRIDE (not PATCH, DELETE or HEAD on a POST)
    │   ├── UploadNotFinished     400 ERR_UPLOAD_NOT_FINISHED
    │   ├── CompletedUpload       400 ERR_UPLOAD_COMPLETED (a draft problem type: no append after completion)
    │   └── UnsupportedInteropVersion 400 ERR_UNSUPPORTED_INTEROP_VERSION (Upload-Draft-Interop-Version)
    ├── Unauthorized              401 ERR_UNAUTHORIZED (no, bad or expired token; carries WWW-Authenticate)
    ├── Forbidden                 403 ERR_FORBIDDEN
    │   ├── ModifyFinal           403 ERR_MODIFY_FINAL
    │   ├── OriginNotAllowed      403 ERR_ORIGIN_NOT_ALLOWED
    │   └── CrossSiteRequest      403 ERR_CROSS_SITE_REQUEST (a cookie endpoint called from another site)
    ├── UploadNotFound            404 ERR_UPLOAD_NOT_FOUND
    ├── MethodNotAllowed          405 ERR_METHOD_NOT_ALLOWED
    ├── OffsetMismatch            409 ERR_MISMATCHED_OFFSET (carries the current offset)
    │   └── MismatchingUploadOffset 409 ERR_MISMATCHED_OFFSET (the draft problem type)
    ├── EmailInUse                409 ERR_EMAIL_TAKEN (register with an email that has an account)
    ├── UploadGone                410 ERR_UPLOAD_GONE (terminated or expired)
    ├── ContentGone               410 ERR_UPLOAD_CONTENT_GONE (complete, its bytes dropped for good)
    ├── PreconditionFailed        412 ERR_UNSUPPORTED_VERSION
    ├── TooLarge                  413 ERR_MAX_SIZE_EXCEEDED / ERR_UPLOAD_SIZE_EXCEEDED
    ├── QuotaExceeded             413 ERR_QUOTA_EXCEEDED (the owner's bytes or unfinished uploads; nothing stored)
    ├── UnsupportedMediaType      415 ERR_INVALID_CONTENT_TYPE
    ├── Unprocessable             422 ERR_UNPROCESSABLE (a JSON body of the wrong shape, a short password)
    ├── UploadLocked              423 ERR_UPLOAD_LOCKED (lock timeout; tus clients retry 423)
    ├── UploadInterrupted         423 ERR_UPLOAD_INTERRUPTED (a newer request took over)
    ├── TooManyRequests           429 ERR_TOO_MANY_REQUESTS (a per-client cap; carries Retry-After)
    ├── ChecksumMismatch          460 ERR_CHECKSUM_MISMATCH
    ├── ReadInterrupted           500 ERR_READ_INTERRUPTED (body reset or timed out; bytes kept; clients retry 5xx)
    ├── FeatureNotImplemented     501 ERR_NOT_IMPLEMENTED (the configured store lacks the capability)
    ├── IncompleteUpload          400 ERR_INCOMPLETE_UPLOAD (GET before the upload finished)
    ├── StorageUnavailable        503 ERR_STORAGE_UNAVAILABLE (transient backend trouble; clients retry 5xx)
    ├── ServerBusy                503 ERR_SERVER_BUSY (a server-wide cap; carries Retry-After; clients retry 5xx)
    └── InsufficientStorage       507 ERR_INSUFFICIENT_STORAGE (the disk is full; bytes kept; clients retry 5xx)
"""

from __future__ import annotations

from typing import ClassVar


class TusError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "ERR_INTERNAL_SERVER_ERROR"
    reason: ClassVar[str | None] = None  # HTTP reason phrase for unregistered codes (460)

    def __init__(self, message: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code.lower().removeprefix("err_").replace("_", " ")
        self.headers = dict(headers or {})


class BadRequest(TusError):
    status = 400
    code = "ERR_BAD_REQUEST"


class InvalidOffset(BadRequest):
    code = "ERR_INVALID_OFFSET"


class InvalidLength(BadRequest):
    code = "ERR_INVALID_UPLOAD_LENGTH"


class InvalidMetadata(BadRequest):
    code = "ERR_INVALID_METADATA"


class InvalidChecksum(BadRequest):
    code = "ERR_INVALID_CHECKSUM"


class InvalidConcat(BadRequest):
    code = "ERR_INVALID_CONCAT"


class InvalidMethodOverride(BadRequest):
    code = "ERR_INVALID_METHOD_OVERRIDE"


class UploadNotFinished(BadRequest):
    code = "ERR_UPLOAD_NOT_FINISHED"


class IncompleteUpload(BadRequest):
    code = "ERR_INCOMPLETE_UPLOAD"


class Unauthorized(TusError):
    """No credentials, or credentials that do not hold (RFC 6750: ``WWW-Authenticate: Bearer``)."""

    status = 401
    code = "ERR_UNAUTHORIZED"

    def __init__(self, message: str = "", *, error: str = "invalid_token") -> None:
        # 'invalid_token' for a token that fails; '' when none was sent (RFC 6750, 3.1)
        challenge = f'Bearer realm="tusd-py", error="{error}"' if error else 'Bearer realm="tusd-py"'
        super().__init__(message or "authentication required", headers={"WWW-Authenticate": challenge})


class Forbidden(TusError):
    status = 403
    code = "ERR_FORBIDDEN"


class ModifyFinal(Forbidden):
    code = "ERR_MODIFY_FINAL"


class OriginNotAllowed(Forbidden):
    code = "ERR_ORIGIN_NOT_ALLOWED"


class CrossSiteRequest(Forbidden):
    code = "ERR_CROSS_SITE_REQUEST"


class UploadNotFound(TusError):
    status = 404
    code = "ERR_UPLOAD_NOT_FOUND"


class MethodNotAllowed(TusError):
    status = 405
    code = "ERR_METHOD_NOT_ALLOWED"


class OffsetMismatch(TusError):
    status = 409
    code = "ERR_MISMATCHED_OFFSET"

    def __init__(self, current_offset: int, message: str = "") -> None:
        super().__init__(
            message or f"mismatched offset: the upload is at {current_offset}",
            headers={"Upload-Offset": str(current_offset)},
        )
        self.current_offset = current_offset


class EmailInUse(TusError):
    status = 409
    code = "ERR_EMAIL_TAKEN"


class UploadGone(TusError):
    status = 410
    code = "ERR_UPLOAD_GONE"

    def __init__(self, message: str = "", *, owner: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        # whose upload it was, as its tombstone records it ("" for an anonymous upload, or a
        # tombstone written before owners were recorded): anyone else is told 404
        self.owner = owner


class ContentGone(TusError):
    """A complete upload whose bytes can no longer be had: processing dropped the plaintext and
    no kept original replaces it (its media record lost, say). HEAD and GET both say so."""

    status = 410
    code = "ERR_UPLOAD_CONTENT_GONE"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "the upload's bytes were replaced by processing and no kept original can serve them"
        )


class PreconditionFailed(TusError):
    status = 412
    code = "ERR_UNSUPPORTED_VERSION"


class TooLarge(TusError):
    status = 413
    code = "ERR_MAX_SIZE_EXCEEDED"


class UploadSizeExceeded(TooLarge):
    code = "ERR_UPLOAD_SIZE_EXCEEDED"


class QuotaExceeded(TusError):
    """The owner holds too many bytes or unfinished uploads (``TUSD_QUOTA_*``). 413 rather than 403:
    tus clients stop on it without retrying, as on a too-large upload, and a 403 would read as a bad
    token to an app that refreshes and tries again. Not a ``TooLarge``: the request itself is fine."""

    status = 413
    code = "ERR_QUOTA_EXCEEDED"


class UnsupportedMediaType(TusError):
    status = 415
    code = "ERR_INVALID_CONTENT_TYPE"


class Unprocessable(TusError):
    status = 422
    code = "ERR_UNPROCESSABLE"


class UploadLocked(TusError):
    status = 423
    code = "ERR_UPLOAD_LOCKED"


class UploadInterrupted(TusError):
    status = 423
    code = "ERR_UPLOAD_INTERRUPTED"


class ChecksumMismatch(TusError):
    status = 460
    code = "ERR_CHECKSUM_MISMATCH"
    reason = "Checksum Mismatch"


class ReadInterrupted(TusError):
    status = 500
    code = "ERR_READ_INTERRUPTED"


class StorageUnavailable(TusError):
    status = 503
    code = "ERR_STORAGE_UNAVAILABLE"


class RetryLater(TusError):
    """A refusal by load, not by content: the same request succeeds later, and Retry-After says when."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ServerBusy(RetryLater):
    status = 503
    code = "ERR_SERVER_BUSY"


class TooManyRequests(RetryLater):
    status = 429
    code = "ERR_TOO_MANY_REQUESTS"


class InsufficientStorage(TusError):
    status = 507
    code = "ERR_INSUFFICIENT_STORAGE"
    reason = "Insufficient Storage"


class FeatureNotImplemented(TusError):
    """The configured store does not offer what the request needs (termination, concatenation,
    deferred length, downloads): tusd's ``ErrNotImplemented``."""

    status = 501
    code = "ERR_NOT_IMPLEMENTED"


# -- the resumable-upload draft (tusd_py/draft) ---------------------------------------------------
PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"


class Problem:
    """An error answered as RFC 9457 problem details (``application/problem+json``): the draft's
    problem types. Mixed into a ``TusError`` subclass, which keeps its status and code."""

    problem_type: ClassVar[str]
    title: ClassVar[str]

    def problem_members(self) -> dict[str, int | str]:
        """Extension members of the problem document, beside type, title, status and detail."""
        return {}


class MismatchingUploadOffset(Problem, OffsetMismatch):
    problem_type = PROBLEM_TYPES + "mismatching-upload-offset"
    title = "offset from request does not match offset of resource"

    def __init__(self, expected_offset: int, provided_offset: int) -> None:
        super().__init__(expected_offset)
        self.provided_offset = provided_offset

    def problem_members(self) -> dict[str, int | str]:
        return {"expected-offset": self.current_offset, "provided-offset": self.provided_offset}


class CompletedUpload(Problem, BadRequest):
    code = "ERR_UPLOAD_COMPLETED"
    problem_type = PROBLEM_TYPES + "completed-upload"
    title = "upload is already completed"


class InconsistentUploadLength(Problem, InvalidLength):
    code = "ERR_INCONSISTENT_UPLOAD_LENGTH"
    problem_type = PROBLEM_TYPES + "inconsistent-upload-length"
    title = "inconsistent length values for upload"


class UnsupportedInteropVersion(BadRequest):
    """An ``Upload-Draft-Interop-Version`` this server does not speak: refused rather than
    guessed, since each interop version changes what the same headers mean."""

    code = "ERR_UNSUPPORTED_INTEROP_VERSION"
