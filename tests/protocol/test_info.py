"""UploadInfo: its JSON form round-trips, and copies are independent where stores rely on it."""

from __future__ import annotations

import copy
import json

from tusd_py.protocol.info import UploadInfo, UploadState


def _info() -> UploadInfo:
    return UploadInfo(
        id="abc",
        size=10,
        offset=4,
        metadata="filename Zm9v",
        partial_ids=["p1"],
        created_at=1.5,
        expires_at=99.0,
        state=UploadState.COMPLETING,
        storage={"type": "file", "path": "/x"},
    )


def test_the_json_form_round_trips_every_field() -> None:
    info = _info()
    again = UploadInfo.from_dict(json.loads(json.dumps(info.to_dict())))
    assert again == info and again.state is UploadState.COMPLETING


def test_a_copy_equals_the_original_and_changes_apart_from_it() -> None:
    info = _info()
    twin = copy.copy(info)
    assert twin == info and twin is not info and type(twin) is UploadInfo
    twin.state, twin.expires_at, twin.offset = UploadState.COMPLETED, None, 10
    assert (info.state, info.expires_at, info.offset) == (UploadState.COMPLETING, 99.0, 4)


def test_only_completed_and_handed_off_are_finished() -> None:
    assert [s for s in UploadState if s.finished] == [UploadState.COMPLETED, UploadState.HANDED_OFF]
