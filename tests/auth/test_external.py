"""TUSD_AUTH=jwt: tokens of the app's own identity provider, verified with its JWKS (served here
by a small aiohttp server on 127.0.0.1) or a PEM public key; ``sub`` is the owner."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tusd_py.app import create_app
from tusd_py.auth.external import ExternalTokens
from tusd_py.auth.tokens import AuthConfigError, InvalidToken
from tusd_py.settings import Settings

from .conftest import Client

ISSUER, AUDIENCE = "https://idp.example", "uploads"
TUS = {"Tus-Resumable": "1.0.0", "Upload-Length": "1"}


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def issue(key: Any, kid: str | None = "k1", alg: str = "RS256", **claims: Any) -> str:
    body = {"sub": "user-42", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


class JwksServer:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0

    def publish(self, key: rsa.RSAPrivateKey, kid: str) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response({"keys": self.keys})


@pytest.fixture
async def jwks(aiohttp_server: Any) -> tuple[JwksServer, str]:
    state = JwksServer()
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", state.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return state, str(server.make_url("/.well-known/jwks.json"))


async def jwt_client(aiohttp_client: Any, make_settings: Callable[..., Settings], **auth: str) -> Client:
    settings = make_settings(auth="jwt", store="memory", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, **auth)
    client: Client = await aiohttp_client(create_app(settings, background=False))
    return client


async def test_jwks_tokens(
    aiohttp_client: Any, make_settings: Callable[..., Settings], jwks: tuple[JwksServer, str]
) -> None:
    server, url = jwks
    key = rsa_key()
    server.publish(key, "k1")
    client = await jwt_client(aiohttp_client, make_settings, jwt_jwks_url=url)
    good = {**TUS, "Authorization": f"Bearer {issue(key)}"}
    assert (await client.post("/files/", headers=good)).status == 201
    assert (await client.post("/files/", headers=good)).status == 201
    assert server.fetches == 1  # keys are kept by kid
    refused = {
        "expired": issue(key, exp=int(time.time()) - 10),
        "audience": issue(key, aud="other"),
        "issuer": issue(key, iss="https://evil.example"),
        "no-sub": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, "RS256", {"kid": "k1"}
        ),
        "other-key": issue(rsa_key()),
        "no-kid": issue(key, kid=None),
        "alg-none": jwt.encode(
            {"sub": "x", "iss": ISSUER, "aud": AUDIENCE}, "", algorithm="none", headers={"kid": "k1"}
        ),
    }
    for name, token in refused.items():
        response = await client.post("/files/", headers={**TUS, "Authorization": f"Bearer {token}"})
        assert response.status == 401, name
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    no_accounts = await client.post("/auth/login", json={}, headers={"Authorization": f"Bearer {issue(key)}"})
    assert no_accounts.status == 404  # no local accounts in this mode


async def test_a_rotated_key_is_fetched_once_and_unknown_kids_do_not_flood(
    aiohttp_client: Any, make_settings: Callable[..., Settings], jwks: tuple[JwksServer, str]
) -> None:
    server, url = jwks
    old, new = rsa_key(), rsa_key()
    server.publish(old, "old")
    verifier = ExternalTokens(issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"], jwks_url=url, refetch_interval=0)
    assert (await verifier.verify(issue(old, kid="old"))).user_id == "user-42"
    server.publish(new, "new")  # the provider rotates
    assert (await verifier.verify(issue(new, kid="new"))).user_id == "user-42"
    assert server.fetches == 2
    verifier.refetch_interval = 3600
    for i in range(5):
        with pytest.raises(InvalidToken, match="no key"):
            await verifier.verify(issue(old, kid=f"made-up-{i}"))
    assert server.fetches == 2  # made-up kids within the interval since the last fetch: no fetch at all


async def test_pem_public_keys(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> None:
    key = rsa_key()
    client = await jwt_client(aiohttp_client, make_settings, jwt_public_key=pem(key))
    assert (await client.post("/files/", headers={**TUS, "Authorization": f"Bearer {issue(key)}"})).status == 201
    public_as_secret = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, "secret-" * 6, algorithm="HS256"
    )
    for token in (issue(rsa_key()), public_as_secret, issue(ec.generate_private_key(ec.SECP256R1()), alg="ES256")):
        assert (await client.post("/files/", headers={**TUS, "Authorization": f"Bearer {token}"})).status == 401


async def test_an_ec_pem_key(make_settings: Callable[..., Settings]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = ExternalTokens.from_settings(
        make_settings(auth="jwt", jwt_public_key=pem(key), jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    )
    assert (await verifier.verify(issue(key, alg="ES256"))).user_id == "user-42"
    with pytest.raises(InvalidToken):
        await verifier.verify(issue(rsa_key()))


def test_a_bad_pem_stops_the_start(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(AuthConfigError, match="TUSD_JWT_PUBLIC_KEY"):
        create_app(make_settings(auth="jwt", jwt_public_key="-----BEGIN PUBLIC KEY-----\nnope\n"), background=False)
