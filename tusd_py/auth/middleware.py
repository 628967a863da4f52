"""The one auth middleware: every request names its caller, or is one of the few public ones.

It runs inside ``tus_middleware`` (which maps its errors and adds the CORS and tus headers to
them). For each request it reads ``Authorization: Bearer <token>``, verifies the token (local:
HS256 and a live session; ``TUSD_AUTH=jwt``: the identity provider's signature), and puts the
``Caller`` on the request for the handlers; then it counts the request against the caller's
rate limits (requests, and uploads created: a tus POST, or ``POST /s3/multipart`` and
``GET /s3/params`` of the direct-upload API). No token, or one that does not hold: 401 with
``WWW-Authenticate: Bearer``.

Public, with no token: CORS preflights and tus ``OPTIONS`` (capabilities), the health and
metrics endpoints, the ``/auth`` endpoints that log in or work from the refresh cookie, the
signed delivery URLs (they carry their own signature and expiry), and the web app's pages.
``GET /media/{id}/events`` also takes the token as ``?access_token=`` (EventSource sends no headers).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..protocol.errors import Unauthorized
from ..settings import Settings
from .ports import CALLER, Caller
from .ratelimit import RateLimits
from .sessions import CachedSessions
from .tokens import InvalidToken, Tokens

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Verify = Callable[[str], Awaitable[Caller]]

# Routes (by their canonical path, as the router resolved the request) that need no token.
PUBLIC_ROUTES = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/auth/register",
        "/auth/login",
        "/auth/refresh",  # the refresh cookie, checked by the handler
        "/auth/logout",
        "/auth/logout-all",
        "/media/{upload_id}/hls/{name}",  # signed delivery URLs
        "/media/{upload_id}/key",
        "/media/{upload_id}/files/{name}",
    }
)
# The web app's pages (GET and HEAD only: with TUSD_BASE_PATH=/ the tus endpoint is "/" too).
PUBLIC_PAGES = ("/",)
PUBLIC_PAGE_PREFIXES = ("/static/", "/app/")
# Routes of the direct-upload signing API that create an upload (method, canonical path): they
# count toward the uploads created per user like a POST to the tus endpoint.
DIRECT_CREATIONS = frozenset({("POST", "/s3/multipart"), ("GET", "/s3/params")})
# Routes whose GET also takes ``?access_token=``.
QUERY_TOKEN_ROUTES = frozenset({"/media/{upload_id}/events"})

MAX_TOKEN = 4096
_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)


def local_verifier(tokens: Tokens, sessions: CachedSessions) -> Verify:
    """Local tokens: a valid signature and claims, and a session that is still live."""

    async def verify(token: str) -> Caller:
        claims = tokens.verify_access(token)
        session = await sessions.get(claims.session_id)
        if session is None or session.user_id != claims.user_id:
            raise Unauthorized("the session of this token has ended; log in again")
        return Caller(claims.user_id, claims.session_id)

    return verify


class Gate:
    """What the middleware needs, built once per app."""

    def __init__(self, settings: Settings, verify: Verify, limits: RateLimits | None) -> None:
        self.verify, self.limits = verify, limits
        base = settings.server.base_path
        self.collection = {base, base.rstrip("/") or "/"}  # where POST creates an upload

    def is_public(self, request: web.Request, canonical: str) -> bool:
        method = request.method
        if method == "OPTIONS":
            # tus OPTIONS (capabilities) and every CORS preflight; no route answers OPTIONS with data
            return True
        if canonical in PUBLIC_ROUTES:
            return True
        return method in ("GET", "HEAD") and (canonical in PUBLIC_PAGES or canonical.startswith(PUBLIC_PAGE_PREFIXES))

    def creates_upload(self, request: web.Request, canonical: str) -> bool:
        """A tus creation (POST to the collection) or a direct upload's (the signing API)."""
        if request.method == "POST" and request.path in self.collection:
            return True
        return (request.method, canonical) in DIRECT_CREATIONS

    async def authenticate(self, request: web.Request) -> Caller | None:
        """The caller of a request that needs one (None: a public request); raises Unauthorized."""
        if CALLER in request:
            return request[CALLER]  # authenticated before 100 Continue already
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else ""
        if self.is_public(request, canonical):
            return None
        token = bearer_token(request)
        if token is None and canonical in QUERY_TOKEN_ROUTES and request.method == "GET":
            token = _query_token(request)
        if token is None:
            raise Unauthorized("this endpoint needs 'Authorization: Bearer <access token>'", error="")
        try:
            caller = await self.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        request[CALLER] = caller
        if self.limits is not None:
            await self.limits.api(caller.user_id)
            if self.creates_upload(request, canonical):
                await self.limits.upload_created(caller.user_id)
        return caller

    def middleware(self) -> Middleware:
        gate = self

        @web.middleware
        async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            await gate.authenticate(request)
            return await handler(request)

        return auth_middleware


def bearer_token(request: web.BaseRequest) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None if there is no such header."""
    values = request.headers.getall("Authorization", ())
    if not values:
        return None
    if len(values) > 1:
        raise Unauthorized("Authorization is sent more than once", error="invalid_request")
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must be 'Bearer <access token>'", error="invalid_request")
    return _checked(token)


def _query_token(request: web.Request) -> str | None:
    values = request.query.getall("access_token", ())
    if not values:
        return None
    if len(values) > 1:
        raise Unauthorized("access_token is given more than once", error="invalid_request")
    return _checked(values[0])


def _checked(token: str) -> str:
    if len(token) > MAX_TOKEN:
        raise Unauthorized(f"the token is longer than {MAX_TOKEN} characters")
    if not _JWS.fullmatch(token):
        raise Unauthorized("the token is not a JWT (three base64url parts)")
    return token
