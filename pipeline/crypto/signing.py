"""Signed, expiring URLs for playlists, keys, segments and decrypted objects.

``sig = base64url(HMAC-SHA256(secret, canonical JSON ["tusd-py-url/1", path, exp, aud]))``,
sent as query parameters ``exp`` (unix seconds), ``aud`` (omitted when empty) and ``sig``.
The path, the expiry and the audience (a user id once authentication exists) are all
covered, so changing any of them, or the signature, fails. One signature covers one path:
segments are signed one by one when a playlist is served (an HMAC is cheap next to writing the
playlist; docs/benchmarks.md).

Errors::

    SignatureError
    ├── BadSignature       missing, malformed, forged or altered; or for another audience
    └── ExpiredSignature   authentic but past ``exp``
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import urlencode

from .keys import CryptoError

_VERSION = "tusd-py-url/1"
MIN_SECRET_SIZE = 16


class SignatureError(CryptoError):
    """The request may not have the resource (delivery answers 403)."""


class BadSignature(SignatureError):
    pass


class ExpiredSignature(SignatureError):
    pass


def _mac(secret: bytes, path: str, exp: int, aud: str) -> bytes:
    if len(secret) < MIN_SECRET_SIZE:
        raise ValueError(f"the URL signing secret must be at least {MIN_SECRET_SIZE} bytes")
    message = json.dumps([_VERSION, path, exp, aud], separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def _encode(mac: bytes) -> str:
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign_query(path: str, *, expires_at: int, audience: str = "", secret: bytes) -> dict[str, str]:
    """The query parameters that authorize ``path`` until ``expires_at`` (unix seconds)."""
    if "?" in path or "#" in path:
        raise ValueError("sign the path alone, without a query or fragment")
    sig = _encode(_mac(secret, path, int(expires_at), audience))
    query = {"exp": str(int(expires_at))}
    if audience:
        query["aud"] = audience
    query["sig"] = sig
    return query


def sign_url(path: str, *, expires_at: int, audience: str = "", secret: bytes) -> str:
    """``path?exp=…&aud=…&sig=…``; ``path`` is what the server sees (e.g. ``/media/abc/master.m3u8``)."""
    return f"{path}?{urlencode(sign_query(path, expires_at=expires_at, audience=audience, secret=secret))}"


def verify(path: str, query: Mapping[str, str], *, secret: bytes, now: float, audience: str | None = None) -> None:
    """Raise unless ``query`` carries a valid, unexpired signature of ``path``. With ``audience``
    given, the URL must also have been issued to it. The signature is checked (in constant time)
    before the expiry, so only authentic URLs are ever reported as expired."""
    exp_text, aud, sig = query.get("exp", ""), query.get("aud", ""), query.get("sig", "")
    if not exp_text.isascii() or not exp_text.isdigit() or not sig:
        raise BadSignature("missing or malformed signature parameters")
    exp = int(exp_text)
    # Compared as text: only the one canonical encoding passes (no padding or spare-bit variants).
    if not hmac.compare_digest(sig.encode(), _encode(_mac(secret, path, exp, aud)).encode()):
        raise BadSignature("signature does not match")
    if audience is not None and not hmac.compare_digest(aud.encode(), audience.encode()):
        raise BadSignature("URL issued to another audience")
    if now >= exp:
        raise ExpiredSignature(f"URL expired at {exp}")
