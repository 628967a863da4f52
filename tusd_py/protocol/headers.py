"""Parse and format tus request headers. Pure functions: bad input raises a typed error.

Parsing is strict on purpose: a client that sends a malformed header gets a 400
that says which header and why, instead of a silently dropped value (tusd drops
bad metadata pairs; users then wonder where their filename went).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import lru_cache

from .constants import MAX_OBJECT_SIZE
from .errors import InvalidConcat, InvalidLength, InvalidMetadata, InvalidOffset

_DIGITS = re.compile(r"[0-9]{1,19}")  # no sign, no decimals; 19 digits covers int64
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc: C0 (TAB, CR, LF, NUL...), DEL, C1

# The metadata keys whose values the server reads as text and puts into responses: the download's
# Content-Type and Content-Disposition (web/download.py), the S3 object's ContentType, the
# uploader in /media (playback/status.py UPLOADER_KEYS), the transcoder's file suffix. A control
# character there is refused at creation: in a header it would make every later GET fail.
TEXT_KEYS = frozenset(
    {"filename", "name", "filetype", "content_type", "uploadedBy", "uploaded_by", "user", "username"}
)


def _non_negative_int(value: str, name: str, error: type[InvalidOffset] | type[InvalidLength]) -> int:
    if not _DIGITS.fullmatch(value.strip()):
        raise error(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def parse_offset(value: str | None) -> int:
    if value is None:
        raise InvalidOffset("missing Upload-Offset header")
    return _non_negative_int(value, "Upload-Offset", InvalidOffset)


def parse_length(value: str) -> int:
    length = _non_negative_int(value, "Upload-Length", InvalidLength)
    if length > MAX_OBJECT_SIZE * 1024:  # absurd values are a client bug, not a size limit
        raise InvalidLength(f"Upload-Length {length} is out of range")
    return length


def parse_defer_length(value: str) -> bool:
    if value.strip() != "1":
        raise InvalidLength(f"Upload-Defer-Length must be 1, got {value!r}")
    return True


@dataclass(frozen=True)
class Metadata:
    """Upload-Metadata as the client sent it (``raw``) and decoded (``values``)."""

    raw: str = ""
    values: dict[str, bytes] = field(default_factory=dict)

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        return None if value is None else value.decode("utf-8", "replace")


def _pair(pair: str) -> tuple[str, bytes]:
    key, _, encoded = pair.partition(" ")
    if not key:
        raise InvalidMetadata(f"Upload-Metadata pair {pair!r} has an empty key")
    if not key.isprintable():  # control characters, and bytes that are not UTF-8 (surrogate-escaped)
        raise InvalidMetadata(f"Upload-Metadata key {key!r} contains a control or non-printable character")
    if " " in encoded or not _BASE64.fullmatch(encoded) or len(encoded) % 4:
        raise InvalidMetadata(f"Upload-Metadata value of {key!r} is not valid base64")
    try:
        value = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidMetadata(f"Upload-Metadata value of {key!r} is not valid base64") from exc
    if key in TEXT_KEYS and _CONTROL.search(value.decode("utf-8", "replace")):
        raise InvalidMetadata(f"Upload-Metadata value of {key!r} contains a control character")
    return key, value


def parse_metadata(value: str | None) -> Metadata:
    """Strict Upload-Metadata parsing: ``key b64,key b64,key`` (tus 1.0 §creation). Keys are
    printable; the values of ``TEXT_KEYS`` hold no control character; other values are bytes."""
    if value is None or value == "":
        return Metadata()
    values: dict[str, bytes] = {}
    for pair in value.split(","):
        key, decoded = _pair(pair)
        if key in values:
            raise InvalidMetadata(f"Upload-Metadata key {key!r} appears twice")
        values[key] = decoded
    return Metadata(raw=value, values=values)


def stored_metadata(value: str) -> Metadata:
    """The metadata of a stored upload, never an error: a pair ``parse_metadata`` refuses (written
    under other rules, or by hand) is left out, so one bad value cannot break every read of the upload."""
    values: dict[str, bytes] = {}
    for pair in value.split(",") if value else ():
        try:
            key, decoded = _pair(pair)
        except InvalidMetadata:
            continue
        values.setdefault(key, decoded)
    return Metadata(raw=value, values=values)


def encode_metadata(values: dict[str, bytes]) -> str:
    return ",".join(f"{k} {base64.b64encode(v).decode()}" if v else k for k, v in values.items())


@dataclass(frozen=True)
class Concat:
    """Upload-Concat: ``partial`` or ``final;<url> <url> ...`` (raw kept for HEAD)."""

    raw: str
    is_partial: bool
    urls: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        return not self.is_partial


def parse_concat(value: str | None) -> Concat | None:
    if value is None:
        return None
    value = value.strip()
    if value == "partial":
        return Concat(raw=value, is_partial=True)
    if value.startswith("final;"):
        urls = tuple(u for u in value[len("final;") :].split(" ") if u)
        if not urls:
            raise InvalidConcat("Upload-Concat: final lists no partial uploads")
        return Concat(raw=value, is_partial=False, urls=urls)
    raise InvalidConcat(f"Upload-Concat must be 'partial' or 'final;<urls>', got {value!r}")


@lru_cache(maxsize=64)
def _http_date(second: int) -> str:
    return formatdate(second, usegmt=True)


def http_date(timestamp: float) -> str:
    """RFC 9110 IMF-fixdate, e.g. ``Wed, 25 Jun 2014 16:00:00 GMT``. Whole seconds; cached, as
    every POST and PATCH of one second states the same expiry and formatting it is costly
    (docs/benchmarks.md)."""
    return _http_date(int(timestamp))
