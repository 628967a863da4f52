"""The interop-version table and the Structured Field parsing, without a server."""

from __future__ import annotations

import pytest

from tusd_py.draft.fields import dictionary, parse_boolean, parse_integer
from tusd_py.draft.versions import (
    COMPLETED_UPLOAD,
    H_UPLOAD_COMPLETE,
    H_UPLOAD_INCOMPLETE,
    INCONSISTENT_LENGTH,
    MISMATCHING_OFFSET,
    PARTIAL_UPLOAD,
    VERSIONS,
    interop_version,
)
from tusd_py.protocol.errors import BadRequest, UnsupportedInteropVersion


def test_the_table_follows_the_drafts_changelogs() -> None:
    assert sorted(VERSIONS) == [3, 4, 5, 6, 7, 8]
    # -02 replaced Upload-Incomplete with Upload-Complete
    assert [v.complete_header for v in VERSIONS.values()] == [H_UPLOAD_INCOMPLETE] + [H_UPLOAD_COMPLETE] * 5
    # -04 required application/partial-upload for appends and added Upload-Limit and two problem types
    assert [v.number for v in VERSIONS.values() if v.patch_media_type == PARTIAL_UPLOAD] == [6, 7, 8]
    assert [v.age_key for v in VERSIONS.values()] == [None, None, None, "expires", "max-age", "max-age"]
    assert VERSIONS[6].problems == {MISMATCHING_OFFSET, COMPLETED_UPLOAD}
    # -06 added the inconsistent-length problem type and required Upload-Complete on appends
    assert all(INCONSISTENT_LENGTH in VERSIONS[n].problems and VERSIONS[n].append_needs_complete for n in (7, 8))
    assert not any(VERSIONS[n].problems for n in (3, 4, 5))
    # -10 (interop 8) requires Accept-Patch in OPTIONS answers
    assert [v.number for v in VERSIONS.values() if v.accept_patch] == [8]


def test_interop_3_says_completeness_inverted() -> None:
    assert VERSIONS[3].complete_value(True) is False and VERSIONS[8].complete_value(True) is True


@pytest.mark.parametrize("value", ["2", "9", "100"])
def test_unknown_versions(value: str) -> None:
    with pytest.raises(UnsupportedInteropVersion, match="3 to 8"):
        interop_version(value)


@pytest.mark.parametrize(("value", "expected"), [("?1", True), ("?0", False), (" ?1 ", True), ("?1;p=1", True)])
def test_booleans(value: str, expected: bool) -> None:
    assert parse_boolean("Upload-Complete", value) is expected


@pytest.mark.parametrize("value", ["1", "true", "?", "?2", "?1, ?0", "?1;P=1", "?1;"])
def test_malformed_booleans(value: str) -> None:
    with pytest.raises(BadRequest, match="Upload-Complete"):
        parse_boolean("Upload-Complete", value)


def test_integers() -> None:
    assert parse_integer("Upload-Offset", "999999999999999") == 10**15 - 1
    for bad in ("-1", "1000000000000000", "1.0", "", "0x10"):
        with pytest.raises(BadRequest):
            parse_integer("Upload-Offset", bad)


def test_upload_limit_dictionary() -> None:
    assert dictionary({"min-size": 0, "max-size": 100, "max-age": 60}) == "min-size=0, max-size=100, max-age=60"
