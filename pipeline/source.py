"""The finished upload as a local file the transcoder can open.

The job payload is only the upload id: the upload's info is reread from the ``UploadSource``
here. An upload whose bytes are a local file of the right size is used in place (a finished
upload never changes); any other is streamed to the job's scratch directory, chunk by chunk, so
memory stays flat.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import BinaryIO

from .errors import SourceMissing
from .ports import SourceInfo, UploadSource

_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")  # fullmatch: `$` would let ".mp4\n" name the scratch file


class NotReady(Exception):
    """The upload is missing, gone, or not a finished file: nothing to process."""


async def load(uploads: UploadSource, upload_id: str) -> SourceInfo:
    """Fresh info of a finished upload; NotReady if there is none (storage errors propagate)."""
    try:
        info = await uploads.get(upload_id)
    except SourceMissing as exc:
        raise NotReady(f"the upload no longer exists ({exc})") from exc
    if not info.finished:
        raise NotReady("the upload is not a finished file")
    return info


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _open(path: Path) -> BinaryIO:
    return open(path, "wb")


def in_place(info: SourceInfo) -> Path | None:
    """The upload's local file, when it holds the whole upload: read where it lies."""
    local = info.local_path
    return Path(local) if local and _size(local) == info.size else None


async def fetch(uploads: UploadSource, info: SourceInfo, dest_dir: Path) -> Path:
    """A copy of the upload's bytes in ``dest_dir`` (for an upload ``in_place`` cannot give)."""
    suffix = Path(info.filename).suffix
    dest = dest_dir / ("source" + (suffix if _SUFFIX.fullmatch(suffix) else ""))
    out = await asyncio.to_thread(_open, dest)
    try:
        async for chunk in uploads.read(info.upload_id, 0, info.size):
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
    if dest.stat().st_size != info.size:
        raise OSError(f"read {dest.stat().st_size} of {info.size} bytes of upload {info.upload_id}")
    return dest
