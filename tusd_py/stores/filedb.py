"""The file store's database, ``TUSD_DATA_DIR/tusd.sqlite3`` (``tusd_py/localdb.py``): its schema,
and the tombstones of removed uploads.

Table ``uploads``: UploadInfo as JSON per id. Table ``tombstones``: a terminated or expired id,
why, when, and whose upload it was, so that its 410 goes to that owner only (anyone else is
told 404, core/ownership.py). The calls are short and synchronous, made inline as the store's
other small database calls are.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from ..core.ports import TombstoneReason
from ..localdb import LocalDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, info TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones (
    id TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL, owner TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""


def open_db(data_dir: str | os.PathLike[str]) -> LocalDB:
    db = LocalDB(data_dir, SCHEMA)
    _add_tombstone_owners(db)
    return db


def _add_tombstone_owners(db: LocalDB) -> None:
    """A database made before tombstones recorded their owner gains the column (its old
    tombstones keep ''; they are 404 to every user until purged). Two processes starting at
    once may both try: the second finds the column there."""
    if any(row[1] == "owner" for row in db.all("PRAGMA table_info(tombstones)")):
        return
    try:
        db.run("ALTER TABLE tombstones ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


def bury(db: LocalDB, upload_id: str, reason: TombstoneReason) -> None:
    """The upload's row goes and its tombstone, with the owner the row names, comes, in one step."""
    with db.transaction() as conn:
        row = conn.execute("SELECT info FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        owner = str(json.loads(row[0]).get("owner", "")) if row else ""
        conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        conn.execute(
            "INSERT OR REPLACE INTO tombstones (id, reason, at, owner) VALUES (?, ?, ?, ?)",
            (upload_id, reason, time.time(), owner),
        )


def tombstone_owner(db: LocalDB, upload_id: str) -> str | None:
    """The owner the upload's tombstone records ("" for none), None when there is no tombstone."""
    row = db.one("SELECT owner FROM tombstones WHERE id = ?", (upload_id,))
    return None if row is None else str(row[0])


def purge_tombstones(db: LocalDB, older_than: float) -> int:
    return db.run("DELETE FROM tombstones WHERE at < ?", (older_than,))
