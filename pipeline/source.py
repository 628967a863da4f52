"""The finished upload as a local file the transcoder can open.

The job payload is only the upload id: the upload's info is reread from the store here. A
file-store upload is used in place (a finished upload never changes); any other store is
streamed to the job's scratch directory, chunk by chunk, so memory stays flat.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import BinaryIO

from tusd_py.core.ports import Store
from tusd_py.protocol.info import UploadInfo

_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")  # fullmatch: `$` would let ".mp4\n" name the scratch file


class NotReady(Exception):
    """The upload is missing, gone, or not a finished file: nothing to process."""


async def load(store: Store, upload_id: str) -> UploadInfo:
    """Fresh info of a finished upload; NotReady if there is none (storage errors propagate)."""
    from tusd_py.protocol.errors import UploadGone, UploadNotFound

    try:
        info = await (await store.get_upload(upload_id)).get_info()
    except (UploadNotFound, UploadGone) as exc:
        raise NotReady(f"the upload no longer exists ({exc.message})") from exc
    if not info.is_finished_file:
        raise NotReady("the upload is not a finished file")
    return info


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _open(path: Path) -> BinaryIO:
    return open(path, "wb")


def in_place(info: UploadInfo) -> Path | None:
    """The file store's data file, when it holds the whole upload: read where it lies."""
    local = info.storage.get("path", "") if info.storage.get("type") == "file" else ""
    return Path(local) if local and _size(local) == info.size else None


async def fetch(store: Store, info: UploadInfo, dest_dir: Path) -> Path:
    """A copy of the upload's bytes in ``dest_dir`` (for an upload ``in_place`` cannot give)."""
    suffix = Path(info.meta().text("filename") or "").suffix
    dest = dest_dir / ("source" + (suffix if _SUFFIX.fullmatch(suffix) else ""))
    upload = await store.get_upload(info.id)
    out = await asyncio.to_thread(_open, dest)
    try:
        async for chunk in upload.read(0, info.size or 0):
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
    if dest.stat().st_size != info.size:
        raise OSError(f"read {dest.stat().st_size} of {info.size} bytes of upload {info.id}")
    return dest
