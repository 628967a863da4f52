"""Checksum extension: the algorithm registry and ``Upload-Checksum`` parsing."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from .errors import InvalidChecksum

# Name on the wire -> hashlib constructor. sha1 is mandatory (tus 1.0 §checksum).
ALGORITHMS: dict[str, Any] = {
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


@dataclass(frozen=True)
class ExpectedChecksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> Any:
        return ALGORITHMS[self.algorithm]()


def parse_checksum(value: str | None) -> ExpectedChecksum | None:
    """``<algorithm> <base64 digest>``; unknown algorithm or malformed value -> 400."""
    if value is None:
        return None
    algorithm, sep, encoded = value.strip().partition(" ")
    if not sep or not encoded:
        raise InvalidChecksum("Upload-Checksum must be '<algorithm> <base64 digest>'")
    if algorithm not in ALGORITHMS:
        supported = ",".join(ALGORITHMS)
        raise InvalidChecksum(f"unsupported checksum algorithm {algorithm!r}; supported: {supported}")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidChecksum("Upload-Checksum digest is not valid base64") from exc
    if len(digest) != ALGORITHMS[algorithm]().digest_size:
        raise InvalidChecksum(f"Upload-Checksum digest has the wrong length for {algorithm}")
    return ExpectedChecksum(algorithm, digest)
