"""The infos a file store wrote last, kept in memory (filesystem.py reads them back)."""

from __future__ import annotations

from cachetools import FIFOCache

from ..protocol.info import UploadInfo


class WrittenInfos:
    """The infos this store wrote last, as stored (offset aside: the data file's size is that).

    Every PATCH and HEAD reads its upload's info, and the row it would read is the one this
    process wrote a moment ago: the file store's writer is one process (its lock is in memory),
    so that row is still current. A reader in another process (a worker on the same directory)
    reads the database. Bounded: the least recently written are dropped (a ``FIFOCache``,
    whose order a rewrite renews), and read again if they come back.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._infos: FIFOCache[str, UploadInfo] = FIFOCache(maxsize=limit)

    def __contains__(self, upload_id: str) -> bool:
        return upload_id in self._infos

    def get(self, upload_id: str) -> UploadInfo | None:
        info = self._infos.get(upload_id)
        return info.__copy__() if info is not None else None  # copy.copy() would look it up

    def put(self, info: UploadInfo) -> None:
        self._infos[info.id] = info.__copy__()

    def drop(self, upload_id: str) -> None:
        self._infos.pop(upload_id, None)
