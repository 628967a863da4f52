"""Local tokens: the claims, the two kinds kept apart, expiry, and where the secret comes from."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from tusd_py.auth.tokens import KEY_FILE_NAME, AuthConfigError, InvalidToken, Tokens, signing_secret
from tusd_py.settings import Settings

SECRET = b"k" * 32


def make(**kw: int) -> Tokens:
    return Tokens(SECRET, issuer="iss-x", audience="aud-y", access_ttl=kw.get("access", 900), refresh_ttl=3600)


def test_access_token_claims() -> None:
    now = time.time()
    token = make().access("user-1", "sid-1", now)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="aud-y")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert set(claims) == {"sub", "sid", "jti", "iat", "exp", "iss", "aud"}
    assert (claims["sub"], claims["sid"], claims["iss"], claims["aud"]) == ("user-1", "sid-1", "iss-x", "aud-y")
    assert claims["exp"] - claims["iat"] == 900 and claims["iat"] == int(now)
    verified = make().verify_access(token)
    assert (verified.user_id, verified.session_id, verified.jti) == ("user-1", "sid-1", claims["jti"])
    assert make().access("user-1", "sid-1", now) != token  # a fresh jti each time


def test_refresh_token_claims_and_kinds_are_apart() -> None:
    tokens = make()
    refresh = tokens.refresh("user-1", "sid-1", "jti-1", time.time())
    claims = jwt.decode(refresh, SECRET, algorithms=["HS256"], audience="aud-y")
    assert claims["typ"] == "refresh" and claims["jti"] == "jti-1" and claims["exp"] - claims["iat"] == 3600
    assert tokens.verify_refresh(refresh).jti == "jti-1"
    with pytest.raises(InvalidToken, match="refresh token is no access token"):
        tokens.verify_access(refresh)
    with pytest.raises(InvalidToken, match="not a refresh token"):
        tokens.verify_refresh(tokens.access("user-1", "sid-1", time.time()))


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: jwt.encode({**jwt.decode(t, options={"verify_signature": False})}, b"x" * 32, algorithm="HS256"),
        lambda t: jwt.encode(
            {**jwt.decode(t, options={"verify_signature": False}), "aud": "other"}, SECRET, algorithm="HS256"
        ),
        lambda t: jwt.encode(
            {**jwt.decode(t, options={"verify_signature": False}), "iss": "other"}, SECRET, algorithm="HS256"
        ),
        lambda t: jwt.encode(
            {k: v for k, v in jwt.decode(t, options={"verify_signature": False}).items() if k != "sid"},
            SECRET,
            algorithm="HS256",
        ),
        lambda t: jwt.encode(jwt.decode(t, options={"verify_signature": False}), "", algorithm="none"),
    ],
    ids=["tampered", "other-secret", "audience", "issuer", "no-sid", "alg-none"],
)
def test_forged_tokens_are_refused(forge: Callable[[str], str]) -> None:
    token = make().access("user-1", "sid-1", time.time())
    with pytest.raises(InvalidToken):
        make().verify_access(forge(token))


def test_an_expired_token_is_refused() -> None:
    token = make(access=10).access("user-1", "sid-1", time.time() - 11)
    with pytest.raises(InvalidToken, match="expired"):
        make().verify_access(token)


def test_the_key_file_is_made_once_mode_0600_beside_the_master_key(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(auth="local")
    first = signing_secret(settings)
    path = settings.crypto.key_file.parent / KEY_FILE_NAME
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert signing_secret(settings) == first  # reused, never regenerated


def test_a_configured_secret_wins(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(auth="local", jwt_secret="s" * 40)
    assert signing_secret(settings) == b"s" * 40
    assert not (settings.crypto.key_file.parent / KEY_FILE_NAME).exists()


def test_shared_storage_without_a_secret_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(auth="local", store="s3", s3_bucket="b")
    with pytest.raises(AuthConfigError, match="TUSD_JWT_SECRET is required with TUSD_STORE=s3"):
        signing_secret(settings)


def test_a_corrupt_key_file_stops_the_start(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(auth="local")
    path: Path = settings.crypto.key_file.parent / KEY_FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_text("not hex\n")
    with pytest.raises(AuthConfigError, match="corrupt"):
        signing_secret(settings)


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = make(access=10)
    now = time.time()
    token = tokens.access("user-1", "sid-1", now)
    assert tokens.verify_access(token).user_id == "user-1"
    assert tokens.verify_access(token).user_id == "user-1"  # from memory
    monkeypatch.setattr("tusd_py.auth.tokens.time.time", lambda: now + 11)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify_access(token)
    assert token not in tokens._verified  # forgotten: the next check is PyJWT's own


def test_the_memory_of_verified_tokens_is_bounded() -> None:
    tokens = make()
    tokens.VERIFIED_MAX = 8
    now = time.time()
    for i in range(20):
        tokens.verify_access(tokens.access(f"user-{i}", "sid", now))
        assert len(tokens._verified) <= 8
