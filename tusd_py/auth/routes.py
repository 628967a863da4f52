"""The ``/auth`` endpoints of local accounts (``TUSD_AUTH=local``); docs/auth.md describes them.

Login opens a session: a short access token in the answer, and a refresh token in a cookie
(``HttpOnly; Secure; SameSite=Strict; Path=/auth``) that ``/auth/refresh`` trades for a new pair.
Each refresh token is good once: the session keeps the current one's ``jti``, and an older one
presented again means a copy is in someone else's hands, so the whole session is revoked.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from aiohttp import web

from ..keys import SETTINGS
from ..protocol.errors import EmailInUse, Unauthorized, UploadNotFound
from .inputs import check_same_site, client_address, new_password, normalise_email, read_json, text_field
from .keys import ERASER, PASSWORDS, RATE_LIMITS, SESSIONS, TOKENS, USERS
from .ports import CALLER, Caller, EmailTaken, Session, User
from .tokens import InvalidToken

log = structlog.get_logger("tusd_py.auth")

COOKIE = "tusd_refresh"
COOKIE_PATH = "/auth"
WRONG_CREDENTIALS = "wrong email or password"


def _caller(request: web.Request) -> Caller:
    if CALLER not in request:  # the middleware lets no request without one through to these handlers
        raise Unauthorized("this endpoint needs 'Authorization: Bearer <access token>'", error="")
    return request[CALLER]


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _tokens_answer(request: web.Request, user_id: str, session_id: str, jti: str, now: float) -> web.Response:
    tokens = request.app[TOKENS]
    body = {
        "access_token": tokens.access(user_id, session_id, now),
        "token_type": "bearer",
        "expires_in": tokens.access_ttl,
    }
    response = _no_store(web.json_response(body))
    response.set_cookie(
        COOKIE,
        tokens.refresh(user_id, session_id, jti, now),
        max_age=tokens.refresh_ttl,
        path=COOKIE_PATH,
        secure=request.app[SETTINGS].auth.cookie_secure,
        httponly=True,
        samesite="Strict",
    )
    return response


def _forget_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(
        COOKIE, path=COOKIE_PATH, secure=request.app[SETTINGS].auth.cookie_secure, httponly=True, samesite="Strict"
    )


async def register(request: web.Request) -> web.Response:
    await request.app[RATE_LIMITS].register(client_address(request))
    body = await read_json(request)
    email = normalise_email(text_field(body, "email"))
    password = new_password(text_field(body, "password"))
    password_hash = await request.app[PASSWORDS].hash(password)
    try:
        user = await request.app[USERS].create(email, password_hash)
    except EmailTaken:
        raise EmailInUse("an account with this email exists already") from None
    log.info("user_registered", user_id=user.id)
    return _no_store(web.json_response({"id": user.id, "email": user.email}, status=201))


async def _check_password(request: web.Request, user: User | None, password: str) -> bool:
    passwords = request.app[PASSWORDS]
    if user is None:
        await passwords.waste(password)  # as long as a real check: no telling who has an account
        return False
    return await passwords.verify(password, user.password_hash)


async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    email = normalise_email(text_field(body, "email"))
    password = text_field(body, "password")
    await request.app[RATE_LIMITS].login(email, client_address(request))
    user = await request.app[USERS].by_email(email)
    if not await _check_password(request, user, password):
        raise Unauthorized(WRONG_CREDENTIALS)
    assert user is not None
    if user.disabled:
        raise Unauthorized("this account is disabled")
    now = time.time()
    session = Session(
        id=secrets.token_urlsafe(16),
        user_id=user.id,
        jti=secrets.token_urlsafe(16),
        created_at=now,
        last_used=now,
        user_agent=request.headers.get("User-Agent", "")[:256],
    )
    await request.app[SESSIONS].create(session, request.app[TOKENS].refresh_ttl)
    log.info("session_opened", user_id=user.id, session_id=session.id)
    return _tokens_answer(request, user.id, session.id, session.jti, now)


async def refresh(request: web.Request) -> web.Response:
    check_same_site(request)
    token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("no refresh cookie: log in", error="")
    try:
        claims = request.app[TOKENS].verify_refresh(token)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid refresh token: {exc}") from None
    sessions = request.app[SESSIONS]
    session = await sessions.get(claims.session_id)
    if session is None or session.user_id != claims.user_id:
        raise Unauthorized("the session has ended: log in")
    user = await request.app[USERS].by_id(claims.user_id)
    if user is None or user.disabled:
        await sessions.revoke(claims.session_id)
        raise Unauthorized("this account is disabled" if user else "no such account")
    now, jti = time.time(), secrets.token_urlsafe(16)
    if not await sessions.rotate(claims.session_id, claims.jti, jti, now, request.app[TOKENS].refresh_ttl):
        # an already-rotated token: a copy of it is in other hands; end the session for both
        await sessions.revoke(claims.session_id)
        log.warning("refresh_token_reused", user_id=claims.user_id, session_id=claims.session_id)
        raise Unauthorized("this refresh token was used already; the session is revoked: log in")
    return _tokens_answer(request, claims.user_id, claims.session_id, jti, now)


async def _cookie_session(request: web.Request) -> tuple[str, str] | None:
    """(user id, session id) of the refresh cookie, if it holds a valid token (expired is not)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        claims = request.app[TOKENS].verify_refresh(token)
    except InvalidToken:
        return None
    return claims.user_id, claims.session_id


async def logout(request: web.Request) -> web.Response:
    check_same_site(request)
    if (found := await _cookie_session(request)) is not None:
        await request.app[SESSIONS].revoke(found[1])
        log.info("session_closed", user_id=found[0], session_id=found[1])
    response = web.Response(status=204)
    _forget_cookie(request, response)
    return response


async def logout_all(request: web.Request) -> web.Response:
    check_same_site(request)
    found = await _cookie_session(request)
    sessions = request.app[SESSIONS]
    if found is None or (session := await sessions.get(found[1])) is None or session.user_id != found[0]:
        raise Unauthorized("no live session in the refresh cookie: log in")
    await sessions.revoke_all(found[0])
    log.info("sessions_closed", user_id=found[0])
    response = web.Response(status=204)
    _forget_cookie(request, response)
    return response


async def me(request: web.Request) -> web.Response:
    caller = _caller(request)
    user = await request.app[USERS].by_id(caller.user_id)
    if user is None:
        raise Unauthorized("no such account")
    return _no_store(web.json_response({"id": user.id, "email": user.email, "created_at": user.created_at}))


async def list_sessions(request: web.Request) -> web.Response:
    caller = _caller(request)
    found = await request.app[SESSIONS].list(caller.user_id)
    body: list[dict[str, Any]] = [
        {
            "id": s.id,
            "created_at": s.created_at,
            "last_used": s.last_used,
            "user_agent": s.user_agent,
            "current": s.id == caller.session_id,
        }
        for s in found
    ]
    return _no_store(web.json_response({"sessions": body}))


async def end_session(request: web.Request) -> web.Response:
    caller = _caller(request)
    sessions = request.app[SESSIONS]
    session = await sessions.get(request.match_info["session_id"])
    if session is None or session.user_id != caller.user_id:  # another user's: as if it did not exist
        raise UploadNotFound("no such session")
    await sessions.revoke(session.id)
    log.info("session_closed", user_id=caller.user_id, session_id=session.id)
    return web.Response(status=204)


async def delete_account(request: web.Request) -> web.Response:
    caller = _caller(request)
    password = text_field(await read_json(request), "password")
    users = request.app[USERS]
    user = await users.by_id(caller.user_id)
    if not await _check_password(request, user, password):
        raise Unauthorized("wrong password")
    if (erase := request.app.get(ERASER)) is not None:
        await erase(caller.user_id)  # uploads and processed media first: an error leaves the account
    await request.app[SESSIONS].revoke_all(caller.user_id)
    await users.delete(caller.user_id)
    log.info("user_deleted", user_id=caller.user_id)
    response = web.Response(status=204)
    _forget_cookie(request, response)
    return response


def setup_auth_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/auth/register", register)
    router.add_post("/auth/login", login)
    router.add_post("/auth/refresh", refresh)
    router.add_post("/auth/logout", logout)
    router.add_post("/auth/logout-all", logout_all)
    router.add_get("/auth/me", me)
    router.add_delete("/auth/me", delete_account)
    router.add_get("/auth/sessions", list_sessions)
    router.add_delete(r"/auth/sessions/{session_id:[A-Za-z0-9_\-]{1,64}}", end_session)
