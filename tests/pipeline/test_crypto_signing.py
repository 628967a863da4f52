"""Signed, expiring URLs: valid, expired, and every kind of tampering."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from pipeline.crypto.signing import (
    BadSignature,
    ExpiredSignature,
    SignatureError,
    sign_query,
    sign_url,
    verify,
)

SECRET = b"s" * 32
PATH = "/media/abc123/master.m3u8"
NOW = 1_700_000_000


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query))


def test_valid_signature_verifies() -> None:
    path, query = split(sign_url(PATH, expires_at=NOW + 60, audience="user-7", secret=SECRET))
    assert path == PATH and set(query) == {"exp", "aud", "sig"}
    assert query["exp"] == str(NOW + 60) and query["aud"] == "user-7"
    assert "=" not in query["sig"] and "+" not in query["sig"] and "/" not in query["sig"]
    verify(path, query, secret=SECRET, now=NOW)
    verify(path, query, secret=SECRET, now=NOW + 59.9, audience="user-7")


def test_no_audience_is_omitted_and_still_signed() -> None:
    query = sign_query(PATH, expires_at=NOW + 60, secret=SECRET)
    assert set(query) == {"exp", "sig"}
    verify(PATH, query, secret=SECRET, now=NOW)
    with pytest.raises(BadSignature):
        verify(PATH, {**query, "aud": "someone"}, secret=SECRET, now=NOW)


def test_expired() -> None:
    query = sign_query(PATH, expires_at=NOW, secret=SECRET)
    with pytest.raises(ExpiredSignature):
        verify(PATH, query, secret=SECRET, now=NOW)
    with pytest.raises(ExpiredSignature):
        verify(PATH, query, secret=SECRET, now=NOW + 3600)


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("/media/abc123/other.m3u8", {}),
        ("/media/abc124/master.m3u8", {}),
        (PATH + "/", {}),
        (PATH, {"exp": str(NOW + 61)}),
        (PATH, {"exp": str(NOW + 10**6)}),
        (PATH, {"aud": "user-8"}),
        (PATH, {"aud": ""}),
        (PATH, {"sig": ""}),
        (PATH, {"exp": "soon"}),
        (PATH, {"exp": "-5"}),
        (PATH, {"sig": "!!!"}),
    ],
)
def test_tampering_fails(path: str, change: dict[str, str]) -> None:
    query = sign_query(PATH, expires_at=NOW + 60, audience="user-7", secret=SECRET)
    with pytest.raises(BadSignature):
        verify(path, {**query, **change}, secret=SECRET, now=NOW)


def test_every_flipped_signature_character_fails() -> None:
    query = sign_query(PATH, expires_at=NOW + 60, secret=SECRET)
    sig = query["sig"]
    for i in range(len(sig)):
        for other in "ABCDEFGH":  # incl. variants differing only in the spare low bits of the last one
            if other != sig[i]:
                with pytest.raises(BadSignature):
                    verify(PATH, {**query, "sig": sig[:i] + other + sig[i + 1 :]}, secret=SECRET, now=NOW)
    with pytest.raises(BadSignature):  # padded: the same bytes, but not the canonical text
        verify(PATH, {**query, "sig": sig + "="}, secret=SECRET, now=NOW)


def test_forged_with_another_secret_or_missing_params() -> None:
    forged = sign_query(PATH, expires_at=NOW + 60, secret=b"x" * 32)
    with pytest.raises(BadSignature):
        verify(PATH, forged, secret=SECRET, now=NOW)
    with pytest.raises(SignatureError):
        verify(PATH, {}, secret=SECRET, now=NOW)


def test_wrong_audience_and_bad_inputs() -> None:
    query = sign_query(PATH, expires_at=NOW + 60, audience="user-7", secret=SECRET)
    with pytest.raises(BadSignature, match="audience"):
        verify(PATH, query, secret=SECRET, now=NOW, audience="user-8")
    with pytest.raises(ValueError):
        sign_url(PATH + "?x=1", expires_at=NOW, secret=SECRET)
    with pytest.raises(ValueError):
        sign_url(PATH, expires_at=NOW, secret=b"short")
