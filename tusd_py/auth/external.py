"""``TUSD_AUTH=jwt``: the bearer tokens of the app's own identity provider.

A token must be signed by one of the provider's keys (its JWKS at ``TUSD_JWT_JWKS_URL``, or the
PEM ``TUSD_JWT_PUBLIC_KEY``) with one of ``TUSD_JWT_ALGORITHMS``, be unexpired, and name
``TUSD_JWT_ISSUER`` and ``TUSD_JWT_AUDIENCE``; its ``sub`` is the owner of what it uploads.
There are no sessions on this side: the provider revokes by letting tokens expire.

The JWKS is fetched by ``jwt.PyJWKClient`` (blocking urllib) in a thread, and its keys are kept
here by ``kid``: a request whose key is known costs no thread hop and no fetch. An unknown
``kid`` (the provider rotated its keys) refetches, at most once per ``refetch_interval``, so a
stream of tokens with made-up ``kid``s cannot turn into a stream of fetches.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import structlog

from ..settings import Settings
from .ports import Caller
from .tokens import AuthConfigError, InvalidToken

log = structlog.get_logger("tusd_py.auth")


class ExternalTokens:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: list[str],
        jwks_url: str = "",
        public_key: str = "",
        refetch_interval: float = 30.0,
        fetch_timeout: float = 10.0,
    ) -> None:
        if not (jwks_url or public_key):
            raise ValueError("a JWKS URL or a public key is needed")
        self.issuer, self.audience, self.algorithms = issuer, audience, algorithms
        self.refetch_interval = refetch_interval
        self._pem: Any = _load_pem(public_key) if public_key else None
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=False, timeout=int(fetch_timeout)) if jwks_url else None
        self._keys: dict[str, Any] = {}
        self._fetched_at = -float("inf")
        self._fetching = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ExternalTokens:
        auth = settings.auth
        return cls(
            issuer=auth.jwt_issuer,
            audience=auth.jwt_audience,
            algorithms=[a.strip() for a in auth.jwt_algorithms.split(",") if a.strip()],
            jwks_url=auth.jwt_jwks_url,
            public_key=auth.jwt_public_key,
        )

    async def _key_for(self, token: str) -> Any:
        if self._pem is not None:
            return self._pem
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key ('kid')")
        if kid not in self._keys:
            await self._refetch()
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken(f"no key {kid[:64]!r} in the identity provider's JWKS") from None

    async def _refetch(self) -> None:
        assert self._client is not None
        async with self._fetching:  # one fetch at a time; waiters use its result
            if time.monotonic() - self._fetched_at < self.refetch_interval:
                return
            self._fetched_at = time.monotonic()
            try:
                keys = await asyncio.to_thread(self._client.get_signing_keys, True)
            except jwt.PyJWKClientError as exc:
                log.warning("jwks_fetch_failed", error=str(exc))
                return  # the keys known so far stay in use
            self._keys = {k.key_id: k.key for k in keys if k.key_id}

    async def verify(self, token: str) -> Caller:
        key = await self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # a key of the other family: TypeError
            raise InvalidToken(str(exc)) from None
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise InvalidToken("'sub' must be a non-empty string of at most 255 characters")
        return Caller(user_id=sub)


def _load_pem(pem: str) -> Any:
    """The PEM public key, checked at start (a typo in it must not wait for the first upload)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        public = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise AuthConfigError(f"TUSD_JWT_PUBLIC_KEY is no PEM public key: {exc}") from None
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise AuthConfigError("TUSD_JWT_PUBLIC_KEY: an RSA or EC public key is needed")
    return public
