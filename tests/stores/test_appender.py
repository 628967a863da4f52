"""_write_all appends every byte exactly once, whatever the kernel's short writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tusd_py.stores import appender


@pytest.mark.parametrize("pieces", [[b"a" * 10_000], [b"a" * 3000, b"", b"b" * 5000, b"c" * 7]])
def test_short_writes_resume_where_they_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces: list[bytes]
) -> None:
    real_write = os.write

    def short_write(fd: int, data: bytes | memoryview) -> int:
        return real_write(fd, memoryview(data)[:1000])  # a signal, a full pipe: part of it

    def short_writev(fd: int, views: list[memoryview]) -> int:
        return real_write(fd, bytes(views[0])[:1000]) if views else 0

    monkeypatch.setattr(appender.os, "write", short_write)
    monkeypatch.setattr(appender.os, "writev", short_writev)
    path = tmp_path / "data"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        appender._write_all(fd, [b"0123"])
        appender._write_all(fd, pieces)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"0123" + b"".join(pieces)
