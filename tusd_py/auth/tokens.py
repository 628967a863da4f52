"""Local tokens: short HS256 access tokens and the refresh tokens of sessions (PyJWT).

An access token carries ``sub`` (the user id), ``sid`` (its session), ``jti``, ``iat``, ``exp``,
``iss`` and ``aud``; it is good for ``TUSD_ACCESS_TOKEN_TTL`` seconds, and only while its session
lives (the auth middleware checks). A refresh token carries the same claims plus
``typ: "refresh"``, lives as long as its session may (``TUSD_REFRESH_TOKEN_TTL``) and is good for
one refresh: its ``jti`` must be the session's current one. Neither kind passes for the other.

The signing secret is ``TUSD_JWT_SECRET`` or, in the embedded default, the key file ``jwt.key``
beside the master key, created once with mode 0600. Shared storage (``TUSD_STORE=s3``) means
several instances, which must all sign with one secret: there a missing secret stops the start.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from ..settings import Settings

KEY_FILE_NAME = "jwt.key"
ALGORITHM = "HS256"
REFRESH = "refresh"
_REQUIRED = ["sub", "sid", "jti", "iat", "exp", "iss", "aud"]


class AuthConfigError(Exception):
    """An identity setting no deployment can start with; the message names what to set."""


class InvalidToken(Exception):
    """A token that is malformed, forged, expired, for another audience, or of the other kind."""


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    session_id: str
    jti: str
    expires_at: int


class Tokens:
    """Issues and verifies local tokens. Verified access tokens are remembered (up to
    ``VERIFIED_MAX``, until their ``exp``): a client sends the same token with every PATCH of an
    upload, and PyJWT's decode costs ~100 us of CPU (base64 checks, key preparation, JSON) where
    a dict lookup costs well under one."""

    VERIFIED_MAX = 4096

    def __init__(self, secret: bytes, *, issuer: str, audience: str, access_ttl: int, refresh_ttl: int) -> None:
        self._secret = secret
        self.issuer, self.audience = issuer, audience
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self._verified: dict[str, Claims] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        auth = settings.auth
        return cls(
            signing_secret(settings),
            issuer=auth.jwt_issuer,
            audience=auth.jwt_audience,
            access_ttl=auth.access_token_ttl,
            refresh_ttl=auth.refresh_token_ttl,
        )

    def _encode(self, user_id: str, session_id: str, jti: str, now: float, ttl: int, **extra: str) -> str:
        iat = int(now)
        claims: dict[str, Any] = {
            "sub": user_id,
            "sid": session_id,
            "jti": jti,
            "iat": iat,
            "exp": iat + ttl,
            "iss": self.issuer,
            "aud": self.audience,
            **extra,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def access(self, user_id: str, session_id: str, now: float) -> str:
        return self._encode(user_id, session_id, secrets.token_urlsafe(12), now, self.access_ttl)

    def refresh(self, user_id: str, session_id: str, jti: str, now: float) -> str:
        return self._encode(user_id, session_id, jti, now, self.refresh_ttl, typ=REFRESH)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if not all(isinstance(claims[name], str) and claims[name] for name in ("sub", "sid", "jti")):
            raise InvalidToken("sub, sid and jti must be non-empty strings")
        return claims

    def verify_access(self, token: str) -> Claims:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > time.time():  # PyJWT's rule: expired once now >= exp
                return known
            del self._verified[token]
            raise InvalidToken("Signature has expired")
        claims = self._decode(token)
        if "typ" in claims:
            raise InvalidToken("a refresh token is no access token")
        verified = Claims(claims["sub"], claims["sid"], claims["jti"], int(claims["exp"]))
        if len(self._verified) >= self.VERIFIED_MAX:
            now = time.time()
            self._verified = {t: c for t, c in self._verified.items() if c.expires_at > now}
            if len(self._verified) >= self.VERIFIED_MAX:
                self._verified.clear()
        self._verified[token] = verified
        return verified

    def verify_refresh(self, token: str) -> Claims:
        claims = self._decode(token)
        if claims.get("typ") != REFRESH:
            raise InvalidToken("not a refresh token")
        return Claims(claims["sub"], claims["sid"], claims["jti"], int(claims["exp"]))


def signing_secret(settings: Settings) -> bytes:
    """``TUSD_JWT_SECRET``, else the embedded default's key file (created once); raises
    ``AuthConfigError`` with shared storage, where every instance must share one secret."""
    if settings.auth.jwt_secret:
        return settings.auth.jwt_secret.encode()
    if settings.storage.store == "s3":
        raise AuthConfigError(
            "TUSD_JWT_SECRET is required with TUSD_STORE=s3 and TUSD_AUTH=local: every instance must sign "
            "tokens with the same secret (32+ random bytes, e.g. `openssl rand -hex 32`)"
        )
    return load_or_create_key(settings.crypto.key_file.parent / KEY_FILE_NAME)


def load_or_create_key(path: Path) -> bytes:
    """The secret in ``path`` (64 hex digits); a missing file is created once, mode 0600, and
    linked into place so that of two processes starting at once, both end up with the same key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_bytes(32).hex() + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AuthConfigError(f"token key file {path} is unreadable or corrupt ({exc}); fix or delete it") from None
    if len(key) < 32:
        raise AuthConfigError(f"token key file {path} holds fewer than 32 bytes; delete it to make a new one")
    return key
