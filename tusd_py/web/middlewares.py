"""The one place where errors become HTTP responses, and where tus and CORS headers are added.

Every response, errors included, carries ``Tus-Resumable`` and the CORS headers: a browser
that cannot read a 409 or 413 reports a bare network error and the client cannot recover.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from ..core.observer import Observer
from ..keys import OBSERVER, SETTINGS
from ..protocol.constants import H_TUS_RESUMABLE, TUS_RESUMABLE
from ..protocol.errors import (
    MethodNotAllowed,
    OriginNotAllowed,
    Problem,
    RetryLater,
    ServerBusy,
    TusError,
    UploadNotFound,
)
from ..settings import Settings

log = structlog.get_logger("tusd_py.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CORS_METHODS = "POST, HEAD, PATCH, OPTIONS, GET, DELETE"
_NO_OBSERVER = Observer()


# JSON APIs under these paths get their errors as JSON (``{"error": code, "message": ...}``); the tus
# endpoints keep tusd's ``ERR_CODE: message`` text, which tus clients show as it is.
JSON_ERROR_PATHS = ("/auth/",)


def problem_response(request: web.Request, exc: TusError, problem: Problem) -> web.Response:
    """RFC 9457 problem details (the resumable-upload draft's problem types), the tus code kept
    as an extension member so logs and clients can still match on it."""
    document = {
        "type": problem.problem_type,
        "title": problem.title,
        "status": exc.status,
        "detail": exc.message,
        "code": exc.code,
        **problem.problem_members(),
    }
    response = web.json_response(
        document, status=exc.status, reason=exc.reason, content_type="application/problem+json", headers=exc.headers
    )
    return response


def error_response(request: web.Request, exc: TusError) -> web.Response:
    if isinstance(exc, Problem):
        return problem_response(request, exc, exc)
    if request.method == "HEAD":
        response = web.Response(status=exc.status, reason=exc.reason, headers=exc.headers)
    elif request.path.startswith(JSON_ERROR_PATHS):
        body = json.dumps({"error": exc.code, "message": exc.message})
        response = web.Response(
            status=exc.status, reason=exc.reason, text=body, content_type="application/json", headers=exc.headers
        )
    else:
        text = f"{exc.code}: {exc.message}\n"
        response = web.Response(status=exc.status, reason=exc.reason, text=text, headers=exc.headers)
    if isinstance(exc, RetryLater) and request.body_exists:
        response.force_close()  # Connection: close; the body is never read (see _send_and_close)
    return response


async def _send_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Send a refusal of a request whose body is unread, then close the connection at once:
    aiohttp would otherwise read and discard that body for up to 10 s (lingering close), which is
    exactly the load the refusal is there to shed."""
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # the transport flushes what was written, then closes


def _origin_allowed(settings: Settings, origin: str) -> bool:
    allowed = settings.server.allowed_origins
    return "*" in allowed or origin in allowed


def decorate(request: web.Request, response: web.StreamResponse) -> None:
    """Add the headers every response carries. Safe to call twice; needed before prepare()."""
    if response.prepared:
        return
    settings = request.app[SETTINGS]
    response.headers[H_TUS_RESUMABLE] = TUS_RESUMABLE
    response.headers["X-Content-Type-Options"] = "nosniff"
    origin = request.headers.get("Origin")
    if origin and _origin_allowed(settings, origin):
        # Echo the origin (never '*'): it works with credentials and is exactly one header.
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = settings.server.cors_expose_headers
        # Only to an origin listed by name, never 'null': Settings refuses credentials with '*' or
        # 'null', and this holds for settings built without validation too (a wildcard would
        # credential every site).
        if settings.server.cors_allow_credentials and origin != "null" and origin in settings.server.allowed_origins:
            response.headers["Access-Control-Allow-Credentials"] = "true"
    if origin:
        response.headers.add("Vary", "Origin")


def _preflight(request: web.Request, settings: Settings) -> web.Response:
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = settings.server.cors_allow_headers
    response.headers["Access-Control-Max-Age"] = str(settings.server.cors_max_age)
    return response


@web.middleware
async def tus_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    observer = request.app.get(OBSERVER, _NO_OBSERVER)
    observer.request(request.method)  # tusd_requests_total; errors are counted below, in one place
    request_id = request.headers.get("X-Request-ID", "")[:64] or os.urandom(8).hex()  # no UUID object per request
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    response: web.StreamResponse
    code = ""  # the tus error code, for tusd_errors_total{status,code}
    try:
        origin = request.headers.get("Origin")
        if origin and not _origin_allowed(settings, origin):
            raise OriginNotAllowed(f"origin {origin!r} is not allowed")
        if (
            request.method == "OPTIONS"
            and origin
            and request.headers.get("Access-Control-Request-Method")
            and not request.path.startswith(settings.server.base_path)  # tus OPTIONS answers its own preflight
        ):
            response = _preflight(request, settings)
        else:
            response = await handler(request)
            if request.method == "OPTIONS" and origin and request.headers.get("Access-Control-Request-Method"):
                response.headers.update(_preflight(request, settings).headers)
    except TusError as exc:
        if isinstance(exc, ServerBusy):  # a refusal by design; a flood of them must not flood the log
            log.debug("request_refused", status=exc.status, code=exc.code)
        elif exc.status >= 500:
            log.warning("request_failed", status=exc.status, code=exc.code, error=exc.message)
        response, code = error_response(request, exc), exc.code
    except web.HTTPNotFound:
        response, code = error_response(request, UploadNotFound("no such resource")), UploadNotFound.code
    except web.HTTPMethodNotAllowed as exc:
        response = error_response(request, MethodNotAllowed(f"{request.method} is not allowed here"))
        code = MethodNotAllowed.code
        response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
    except web.HTTPException as exc:
        response = web.Response(status=exc.status, reason=exc.reason, text=exc.text, headers=exc.headers)
    except Exception:
        log.exception("request_crashed", method=request.method, path=request.path)
        response, code = error_response(request, TusError("internal server error")), TusError.code
    if response.status >= 400:
        observer.error(response.status, code)
    decorate(request, response)
    if response.keep_alive is False and request.body_exists and not response.prepared:
        await _send_and_close(request, response)
    if not response.prepared:
        log.debug("response_outgoing", method=request.method, path=request.path, status=response.status)
    return response
