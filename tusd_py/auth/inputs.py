"""What the ``/auth`` endpoints read from a request: a small JSON body, an email, a password,
the client's address, and whether a cookie request comes from this site (CSRF).

Each refusal is a typed error with a reason (rendered as JSON by the one error mapping): 413 for
a body over ``MAX_BODY``, 415 for one that is not ``application/json``, 400 for one that is not
JSON, 422 for JSON of the wrong shape or a password that is too short.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from ..keys import ADMISSION, SETTINGS
from ..origin import host_and_proto
from ..protocol.errors import BadRequest, CrossSiteRequest, TooLarge, Unprocessable, UnsupportedMediaType

MAX_BODY = 8 * 1024
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 reads all of it; nobody types more
MAX_EMAIL = 254  # RFC 5321's path limit
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, refused before it is read if it announces more than MAX_BODY."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as Content-Type: application/json")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLarge(f"the body is {request.content_length} bytes; at most {MAX_BODY} are read")
    data = bytearray()
    try:
        async for chunk in request.content.iter_chunked(MAX_BODY):
            data += chunk
            if len(data) > MAX_BODY:
                raise TooLarge(f"the body is longer than {MAX_BODY} bytes")
    except (TimeoutError, ClientPayloadError, HttpProcessingError, ConnectionError) as exc:
        raise BadRequest(f"the body was not received in full ({type(exc).__name__})") from None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:  # 8 KiB of '[' nests deeper than the parser recurses
        raise BadRequest("the body's JSON nests too deep") from None
    if not isinstance(value, dict):
        raise Unprocessable("the body must be a JSON object")
    return value


def text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise Unprocessable(f"'{name}' must be a string")
    return value


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased; refused unless it looks like one address."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL or not email.isprintable() or not _EMAIL.fullmatch(email):
        raise Unprocessable("'email' must be an email address")
    return email


def new_password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise Unprocessable(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(value) > MAX_PASSWORD:
        raise Unprocessable(f"the password is too long: at most {MAX_PASSWORD} characters")
    return value


def client_address(request: web.Request) -> str:
    """The client's address as admission sees it (the proxy's X-Forwarded-For entry behind one)."""
    return request.app[ADMISSION].client(request)


def check_same_site(request: web.Request) -> None:
    """CSRF guard of the endpoints that act on the refresh cookie. A browser sends ``Origin`` with
    every cross-origin request (and with same-origin POSTs): it must be this server's own origin
    or one listed by name in TUSD_CORS_ALLOW_ORIGINS ('*' lists no site). Without ``Origin`` (a
    script, curl) the request must carry ``X-Requested-With``, which no plain form can send."""
    settings = request.app[SETTINGS]
    origin = request.headers.get("Origin")
    if origin is None:
        if request.headers.get("X-Requested-With"):
            return
        raise CrossSiteRequest("send Origin or X-Requested-With with a request that uses the refresh cookie")
    if origin != "null" and origin in settings.server.allowed_origins:
        return
    host, proto = host_and_proto(request, behind_proxy=settings.server.behind_proxy)
    if origin == f"{proto}://{host}":
        return
    raise CrossSiteRequest(f"origin {origin[:100]!r} may not use the refresh cookie")
