"""SqlCatalogue on SQLite and PostgreSQL: rows follow an upload's life; usage; pages newest first."""

from __future__ import annotations

import base64

import pytest

from tusd_py.db.catalogue import SqlCatalogue, decode_cursor, encode_cursor
from tusd_py.db.engine import Database
from tusd_py.protocol.info import UploadInfo, UploadState


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _info(
    upload_id: str, owner: str = "alice", *, size: int | None = 10, created: float = 1.0, **kw: object
) -> UploadInfo:
    return UploadInfo(id=upload_id, size=size, owner=owner, created_at=created, **kw)  # type: ignore[arg-type]


async def test_a_row_follows_the_upload(database: Database) -> None:
    catalogue = SqlCatalogue(database)
    info = _info("u1", size=None, metadata=_meta(filename="clip.mp4", filetype="video/mp4"))
    await catalogue.created(info)
    await catalogue.created(info)  # a retried creation leaves the row
    assert await catalogue.ids("alice") == ["u1"]
    assert await catalogue.page("alice", before=None, limit=10) == ([], None)  # not finished yet
    info.size, info.offset, info.state = 10, 10, UploadState.COMPLETED
    await catalogue.updated(info)
    entries, cursor = await catalogue.page("alice", before=None, limit=10)
    assert cursor is None and len(entries) == 1
    entry = entries[0]
    assert (entry.upload_id, entry.owner, entry.name, entry.filetype) == ("u1", "alice", "clip.mp4", "video/mp4")
    assert (entry.size, entry.state, entry.created_at) == (10, "completed", 1.0)
    assert entry.updated_at >= entry.created_at
    await catalogue.terminated("u1")
    assert await catalogue.ids("alice") == []


async def test_labels_fall_back_to_name_and_type(database: Database) -> None:
    catalogue = SqlCatalogue(database)
    await catalogue.created(_info("u1", state=UploadState.COMPLETED, metadata=_meta(name="a.txt", type="text/plain")))
    [entry], _ = await catalogue.page("alice", before=None, limit=1)
    assert (entry.name, entry.filetype) == ("a.txt", "text/plain")


async def test_an_update_of_an_unknown_upload_records_it(database: Database) -> None:
    catalogue = SqlCatalogue(database)
    await catalogue.updated(_info("old", state=UploadState.HANDED_OFF))
    assert [e.upload_id for e in (await catalogue.page("alice", before=None, limit=5))[0]] == ["old"]


async def test_usage_sums_declared_sizes_and_counts_unfinished_uploads(database: Database) -> None:
    catalogue = SqlCatalogue(database)
    assert (await catalogue.usage("alice")).bytes_held == 0
    await catalogue.created(_info("a", size=100, state=UploadState.COMPLETED))
    await catalogue.created(_info("b", size=50))
    await catalogue.created(_info("c", size=None))  # deferred: no bytes declared yet, but in flight
    await catalogue.created(_info("d", size=7, state=UploadState.COMPLETING))
    await catalogue.created(_info("e", "bob", size=1000))
    usage = await catalogue.usage("alice")
    assert (usage.bytes_held, usage.uploads_in_flight) == (157, 3)
    assert (await catalogue.usage("nobody")).uploads_in_flight == 0


async def test_pages_list_the_owners_finished_files_newest_first(database: Database) -> None:
    catalogue = SqlCatalogue(database)
    done = UploadState.COMPLETED
    for i in range(7):
        await catalogue.created(_info(f"u{i}", created=1.0 + i // 2, state=done))  # ties on created_at
    await catalogue.created(_info("partial", created=9.0, state=done, is_partial=True))
    await catalogue.created(_info("busy", created=9.0))
    await catalogue.created(_info("bobs", "bob", created=9.0, state=done))
    seen, cursor, pages = [], None, 0
    while True:
        entries, cursor = await catalogue.page("alice", before=cursor, limit=3)
        seen += [e.upload_id for e in entries]
        pages += 1
        if cursor is None:
            break
    assert seen == ["u6", "u5", "u4", "u3", "u2", "u1", "u0"] and pages == 3
    await catalogue.created(_info("newer", created=10.0, state=done))  # created while paging: not repeated
    first, cursor = await catalogue.page("alice", before=None, limit=2)
    assert [e.upload_id for e in first] == ["newer", "u6"]
    assert cursor is not None and decode_cursor(cursor) == (4.0, "u6")


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", encode_cursor(1.0, "x")[:-3], "WzEsMl0", "WyJ4IiwieSJd"])
async def test_a_cursor_this_server_did_not_hand_out_is_refused(database: Database, cursor: str) -> None:
    with pytest.raises(ValueError):
        await SqlCatalogue(database).page("alice", before=cursor, limit=3)


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(1733200000.123456, "abc/def")) == (1733200000.123456, "abc/def")


async def test_many_concurrent_writers_all_land(database: Database) -> None:
    """A burst of creations and finishes at once (one process, a pool of connections): on SQLite
    the writers wait for the lock (busy timeout), none fails with "database is locked"."""
    import asyncio

    catalogue = SqlCatalogue(database)
    infos = [_info(f"u{i:03}", created=1.0 + i) for i in range(60)]
    await asyncio.gather(*(catalogue.created(info) for info in infos))
    for info in infos:
        info.offset, info.state = 10, UploadState.COMPLETED
    await asyncio.gather(*(catalogue.updated(info) for info in infos))
    usage = await catalogue.usage("alice")
    assert (usage.bytes_held, usage.uploads_in_flight) == (600, 0)
    entries, cursor = await catalogue.page("alice", before=None, limit=100)
    assert [e.upload_id for e in entries] == [f"u{i:03}" for i in reversed(range(60))] and cursor is None
