"""Stored envelope objects, read and written in pieces (format in ``envelope.py``).

* ``decrypt_range``: plaintext bytes ``start..end`` of a stored object, reading only the header
  and the frames the range touches;
* ``RangeDecryptor``: the same for a streaming response, one batch of frames at a time, with
  the object's length taken from its stored size (so truncation fails before anything is sent);
* ``encrypt_file`` / ``decrypt_file``: whole files, in 1 MiB chunks (memory stays flat).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from .envelope import (
    DEFAULT_FRAME_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    Decryptor,
    Encryptor,
    Header,
    IntegrityError,
    _Frames,
    plaintext_size,
)


@dataclass(frozen=True, slots=True)
class FrameSpan:
    """Frames ``first..last`` hold a plaintext range; read ``length`` ciphertext bytes at ``offset``
    (fewer come back when the range reaches the short last frame)."""

    first: int
    last: int
    offset: int
    length: int


def plaintext_range_to_frames(start: int, end_inclusive: int, frame_size: int) -> FrameSpan:
    if start < 0 or end_inclusive < start:
        raise ValueError(f"bad range {start}-{end_inclusive}")
    first, last = start // frame_size, end_inclusive // frame_size
    step = frame_size + TAG_SIZE
    return FrameSpan(first, last, HEADER_SIZE + first * step, (last - first + 1) * step)


def decrypt_range(
    read_at: Callable[[int, int], bytes],
    key: bytes,
    object_id: str,
    start: int,
    end: int,
    *,
    size: int | None = None,
) -> bytes:
    """Plaintext bytes ``start..end`` (inclusive, clamped to the object like a slice).

    ``read_at(offset, length)`` returns the stored bytes there, fewer at the end of the object.
    Only the header and the touched frames are read and authenticated; an end of object is
    believed only once a frame flagged "last" authenticates there. ``size`` is the stored
    object's size: needed only to answer a range past the end of an object whose header does
    not record its length (encrypted from a stream of unknown length).
    """
    header = Header.unpack(read_at(0, HEADER_SIZE))
    frames = _Frames(key, object_id, header)
    frame_size = header.frame_size
    length = header.plaintext_length
    if size is not None:
        from_size = plaintext_size(size, frame_size)
        if length is not None and length != from_size:
            raise IntegrityError(f"object size {size} does not match the header's length {length}")
        length = from_size
    if length is not None and length <= end:
        end = length - 1
        if end < start:  # empty, but still authenticate the header and the end
            _read_last(read_at, frames, length // frame_size)
            return b""
    span = plaintext_range_to_frames(start, end, frame_size)
    data = memoryview(read_at(span.offset, span.length))
    if not data:  # starts past the end: it must be right after an authentic last frame
        _read_last(read_at, frames, span.first - 1)
        return b""
    step = frame_size + TAG_SIZE
    out = bytearray(len(data) - TAG_SIZE * -(-len(data) // step))  # ceil: one tag per frame read
    pos = 0
    for index, at in enumerate(range(0, len(data), step), start=span.first):
        chunk = data[at : at + step]
        last = len(chunk) < step
        if len(chunk) < TAG_SIZE:
            raise IntegrityError(f"frame {index} truncated")
        frames.open_into(index, last, chunk, memoryview(out)[pos : pos + len(chunk) - TAG_SIZE])
        pos += len(chunk) - TAG_SIZE
    if len(data) % step == 0 and len(data) < span.length:  # stopped after a full frame: frames dropped
        raise IntegrityError("ciphertext truncated: the last frame is missing")
    skip = start - span.first * frame_size
    return bytes(memoryview(out)[skip : skip + end - start + 1])


def _read_last(read_at: Callable[[int, int], bytes], frames: _Frames, index: int) -> None:
    step = frames.header.frame_size + TAG_SIZE
    chunk = memoryview(read_at(HEADER_SIZE + index * step, step)) if index >= 0 else memoryview(b"")
    if not TAG_SIZE <= len(chunk) < step:
        raise IntegrityError("ciphertext truncated, or the range starts past the end (pass size=)")
    frames.open_into(index, True, chunk, memoryview(bytearray(len(chunk) - TAG_SIZE)))


class RangeDecryptor:
    """Random access to one stored object for a streaming response.

    Built from the stored header and the stored size: the plaintext length must agree with
    both, so a truncated or extended object fails here, before a byte is sent. ``span`` says
    which ciphertext bytes hold a plaintext range; ``open`` authenticates and decrypts a run
    of consecutive frames read from there (the frame at the end is checked as the last one).
    """

    def __init__(self, key: bytes, object_id: str, header: bytes, stored_size: int) -> None:
        parsed = Header.unpack(header)
        self._frames = _Frames(key, object_id, parsed)
        self.frame_size = parsed.frame_size
        self.length = plaintext_size(stored_size, parsed.frame_size)
        if parsed.plaintext_length is not None and parsed.plaintext_length != self.length:
            raise IntegrityError(f"stored size {stored_size} does not match the header's length")
        self.last_index = self.length // parsed.frame_size

    def span(self, first_frame: int, frames: int) -> tuple[int, int]:
        """(offset, length) of ``frames`` stored frames from ``first_frame`` (clamped to the end)."""
        step = self.frame_size + TAG_SIZE
        last = min(first_frame + frames - 1, self.last_index)
        end_size = self.length - self.last_index * self.frame_size + TAG_SIZE
        length = (last - first_frame) * step + (end_size if last == self.last_index else step)
        return HEADER_SIZE + first_frame * step, length

    def open(self, first_frame: int, data: bytes | bytearray | memoryview) -> bytes:
        """Plaintext of the frames stored in ``data``, which starts at frame ``first_frame``."""
        step = self.frame_size + TAG_SIZE
        src = memoryview(data)
        out = bytearray(max(len(src) - TAG_SIZE * -(-len(src) // step), 0))
        pos = 0
        for index, at in enumerate(range(0, len(src), step), start=first_frame):
            chunk = src[at : at + step]
            last = index == self.last_index
            expected = (self.length - index * self.frame_size + TAG_SIZE) if last else step
            if index > self.last_index or len(chunk) != expected:
                raise IntegrityError(f"frame {index} is truncated or out of place")
            size = len(chunk) - TAG_SIZE
            self._frames.open_into(index, last, chunk, memoryview(out)[pos : pos + size])
            pos += size
        return bytes(out)


# -- files -------------------------------------------------------------------------------------

_CHUNK = 1024 * 1024


def _transform(src: str | os.PathLike[str], dst: str | os.PathLike[str], step: Encryptor | Decryptor) -> int:
    # Written beside dst and renamed into place: a failure (IntegrityError) leaves no partial file.
    tmp = f"{os.fspath(dst)}.{secrets.token_hex(4)}.tmp"
    written = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                written += fout.write(step.update(chunk))
            written += fout.write(step.finalize())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return written


def encrypt_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    key: bytes,
    object_id: str,
    *,
    frame_size: int = DEFAULT_FRAME_SIZE,
) -> int:
    """Encrypt ``src`` into ``dst``; returns the ciphertext size."""
    length = os.stat(src).st_size
    return _transform(src, dst, Encryptor(key, object_id, frame_size=frame_size, plaintext_length=length))


def decrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], key: bytes, object_id: str) -> int:
    """Decrypt ``src`` into ``dst``; returns the plaintext size. Nothing is left at ``dst`` on error."""
    return _transform(src, dst, Decryptor(key, object_id))
