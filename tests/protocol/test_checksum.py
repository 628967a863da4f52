"""protocol/checksum.py: Upload-Checksum parsing and the algorithm registry."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tusd_py.protocol.checksum import ALGORITHMS, ExpectedChecksum, parse_checksum
from tusd_py.protocol.errors import InvalidChecksum


def test_sha1_is_supported_and_names_are_lowercase() -> None:
    assert "sha1" in ALGORITHMS
    assert list(ALGORITHMS) == ["sha1", "md5", "sha256", "sha512"]


def test_no_header_means_no_checksum() -> None:
    assert parse_checksum(None) is None


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "sha512"])
def test_parse_and_hash(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"hello world").digest()
    expected = parse_checksum(f"{algorithm} {base64.b64encode(digest).decode()}")
    assert expected == ExpectedChecksum(algorithm, digest)
    hasher = expected.hasher()
    hasher.update(b"hello ")
    hasher.update(b"world")
    assert hasher.digest() == digest


def test_the_spec_example() -> None:
    expected = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
    assert expected is not None and expected.digest == hashlib.sha1(b"hello world").digest()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha1",
        "sha1 ",
        "whirlpool AAAA",
        "crc32 AAAAAA==",
        "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        "sha1 !!!!",
        "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0",  # missing padding
        "sha1 AAAA",  # 3 bytes, not 20
        "md5 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",  # 20 bytes, not 16
        "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0= extra",
    ],
)
def test_malformed_or_unknown(value: str) -> None:
    with pytest.raises(InvalidChecksum):
        parse_checksum(value)
