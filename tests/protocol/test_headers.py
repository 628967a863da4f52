"""protocol/headers.py: strict parsing of tus request headers."""

from __future__ import annotations

import pytest

from tusd_py.protocol.constants import MAX_OBJECT_SIZE
from tusd_py.protocol.errors import InvalidConcat, InvalidLength, InvalidMetadata, InvalidOffset
from tusd_py.protocol.headers import (
    TEXT_KEYS,
    Metadata,
    encode_metadata,
    http_date,
    parse_concat,
    parse_defer_length,
    parse_length,
    parse_metadata,
    parse_offset,
    stored_metadata,
)


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("42", 42), ("9223372036854775807", 2**63 - 1)])
def test_parse_offset(value: str, expected: int) -> None:
    assert parse_offset(value) == expected


@pytest.mark.parametrize("value", [None, "", "-1", "abc", "1.5", "+1", "1e3", "0x10", "1 2", "12345678901234567890"])
def test_bad_offsets(value: str | None) -> None:
    with pytest.raises(InvalidOffset):
        parse_offset(value)


def test_parse_length() -> None:
    assert parse_length("0") == 0
    assert parse_length("1000") == 1000
    assert parse_length(str(MAX_OBJECT_SIZE)) == MAX_OBJECT_SIZE


@pytest.mark.parametrize("value", ["", "-5", "10x", "1.5", "abc", str(MAX_OBJECT_SIZE * 1024 + 1)])
def test_bad_lengths(value: str) -> None:
    with pytest.raises(InvalidLength):
        parse_length(value)


def test_defer_length_must_be_one() -> None:
    assert parse_defer_length("1") is True
    for value in ("0", "2", "true", ""):
        with pytest.raises(InvalidLength):
            parse_defer_length(value)


def test_empty_metadata() -> None:
    assert parse_metadata(None) == Metadata()
    assert parse_metadata("") == Metadata()


def test_metadata_values_and_raw() -> None:
    raw = "filename d29ybGQ=,is_confidential,empty ,type dmlkZW8vbXA0"
    meta = parse_metadata(raw)
    assert meta.raw == raw
    assert meta.values == {"filename": b"world", "is_confidential": b"", "empty": b"", "type": b"video/mp4"}
    assert meta.text("filename") == "world"
    assert meta.text("missing") is None


def test_metadata_value_bytes_need_not_be_utf8() -> None:
    meta = parse_metadata("blob /w==")
    assert meta.values["blob"] == b"\xff"
    assert meta.text("blob") == "\ufffd"


@pytest.mark.parametrize(
    "raw",
    [
        "a Zm9v,a YmFy",  # duplicate key
        "a !!!",  # not base64
        "a Zm9",  # missing padding
        "a Zm9v=",  # bad padding
        " Zm9v",  # empty key
        "a b c",
        "a Zm9v,,b YmFy",
        "a Zm9v,",
        ",",
        "a\tb Zm9v",  # control character in the key
        "a\x7f Zm9v",
        "a Zm9v YmFy",
    ],
)
def test_malformed_metadata(raw: str) -> None:
    with pytest.raises(InvalidMetadata):
        parse_metadata(raw)


@pytest.mark.parametrize("key", sorted(TEXT_KEYS))
@pytest.mark.parametrize("bad", ["text/plain\n", "a\rb", "a\x00", "\tx", "x\x7f", "x\x1b[31m", "x\u0085"])
def test_a_control_character_in_a_value_the_server_reads_is_refused(key: str, bad: str) -> None:
    with pytest.raises(InvalidMetadata, match="control character"):
        parse_metadata(encode_metadata({key: bad.encode()}))


def test_a_control_byte_beside_invalid_utf8_is_still_seen() -> None:
    with pytest.raises(InvalidMetadata, match="control character"):
        parse_metadata(encode_metadata({"filename": b"\xff\n"}))


def test_other_values_are_opaque_bytes_and_text_may_be_any_printable_unicode() -> None:
    values = {"blob": bytes(range(256)), "filename": "été 🎬 a b.mp4".encode(), "filetype": b"video/mp4"}
    assert parse_metadata(encode_metadata(values)).values == values


@pytest.mark.parametrize("key", ["k\udcffy", "a\u00a0b", "a\u2028b", "a\x85b"])
def test_a_key_must_be_printable(key: str) -> None:
    with pytest.raises(InvalidMetadata, match="non-printable"):
        parse_metadata(f"{key} Zm9v")


def test_the_uploader_keys_of_the_media_status_are_checked_as_text() -> None:
    from tusd_py.playback.status import UPLOADER_KEYS

    assert set(UPLOADER_KEYS) <= TEXT_KEYS


def test_stored_metadata_never_raises_and_keeps_the_good_pairs() -> None:
    bad_type = encode_metadata({"filetype": b"text/plain\n"})
    raw = f"{bad_type},filename Zm9v,junk !!!,a\tb Zm9v,,filename YmFy,flag"
    meta = stored_metadata(raw)
    assert meta.raw == raw
    assert meta.values == {"filename": b"foo", "flag": b""}  # the first of a duplicate wins
    assert stored_metadata("") == Metadata()
    good = "filename d29ybGQ=,type dmlkZW8vbXA0"
    assert stored_metadata(good) == parse_metadata(good)


def test_encode_metadata_round_trips() -> None:
    values = {"filename": b"world", "flag": b"", "bin": bytes(range(10))}
    assert parse_metadata(encode_metadata(values)).values == values
    assert encode_metadata({"flag": b""}) == "flag"


def test_parse_concat() -> None:
    assert parse_concat(None) is None
    partial = parse_concat("partial")
    assert partial is not None and partial.is_partial and not partial.is_final and partial.urls == ()
    final = parse_concat("final;/files/a  http://h/files/b")
    assert final is not None and final.is_final
    assert final.urls == ("/files/a", "http://h/files/b")
    assert final.raw == "final;/files/a  http://h/files/b"


@pytest.mark.parametrize("value", ["", "final;", "final; ", "final", "partial;x", "Partial", "whole"])
def test_malformed_concat(value: str) -> None:
    with pytest.raises(InvalidConcat):
        parse_concat(value)


def test_http_date_is_imf_fixdate() -> None:
    assert http_date(1403712000) == "Wed, 25 Jun 2014 16:00:00 GMT"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
