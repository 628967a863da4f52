"""Scratch directories of jobs that died with their process are removed at the next start,
however young (pipeline/scratch.py); a live job's, or one being made, never are."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline import scratch
from pipeline.scratch import Scratch, remove_abandoned

ROOT = Path(__file__).resolve().parents[2]
_DIES = """
import os, sys
from pipeline.scratch import Scratch
(Scratch(sys.argv[1], "u1").path / "source").write_bytes(b"x" * 1000)
os._exit(0)  # like kill -9: no remove(), no cleanup
"""


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_dead_jobs_directory_is_removed_at_once(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", _DIES, str(tmp_path)], cwd=ROOT, check=True, timeout=60)
    [left] = list(tmp_path.iterdir())
    assert left.name.startswith("tusd-media-u1-") and (left / "source").exists()
    (tmp_path / "unrelated").mkdir()
    _age(tmp_path / "unrelated", 2 * scratch.NEW_MIN_AGE)
    assert remove_abandoned(str(tmp_path)) == 1  # a second old: its lock says it is dead
    assert [p.name for p in tmp_path.iterdir()] == ["unrelated"]  # only ours, only the dead one


def test_a_live_jobs_directory_is_kept_however_old(tmp_path: Path) -> None:
    live = Scratch(str(tmp_path), "u2")
    try:
        (live.path / "source").write_bytes(b"x")
        _age(live.path, 10 * scratch.NEW_MIN_AGE)
        assert remove_abandoned(str(tmp_path)) == 0
        assert (live.path / "source").exists()
    finally:
        live.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_directory_being_made_is_kept_until_a_minute_old(tmp_path: Path) -> None:
    """Between mkdtemp() and flock() a directory is unlocked, under its hidden name only."""
    young = tmp_path / f"{scratch.NEW_PREFIX}tusd-media-u3-abc"
    young.mkdir()
    assert remove_abandoned(str(tmp_path)) == 0
    assert young.exists()
    _age(young, 2 * scratch.NEW_MIN_AGE)  # its process died between the two calls
    assert remove_abandoned(str(tmp_path)) == 1
    assert not young.exists()


def test_a_made_directory_is_locked_under_its_visible_name(tmp_path: Path) -> None:
    live = Scratch(str(tmp_path), "u5")
    try:
        assert live.path.name.startswith("tusd-media-u5-") and live.path.parent == tmp_path
        assert [p.name for p in tmp_path.iterdir()] == [live.path.name]  # the hidden name is gone
        assert remove_abandoned(str(tmp_path)) == 0  # held: the lock moved with the rename
    finally:
        live.remove()


def test_no_directory_until_it_is_needed(tmp_path: Path) -> None:
    unused = Scratch(str(tmp_path), "u4")
    unused.remove()
    assert list(tmp_path.iterdir()) == []


async def test_the_embedded_pipeline_removes_them_when_the_server_starts(tmp_path: Path) -> None:
    from pipeline.assets import FileAssetStore
    from pipeline.crypto.settings import CryptoSettings
    from pipeline.inprocess import EmbeddedPipeline
    from pipeline.records import FileMediaRecords
    from pipeline.settings import PipelineSettings
    from tusd_py.completion import InProcessQueue
    from tusd_py.processing import StoreUploads
    from tusd_py.stores.filesystem import FileStore

    work, data = tmp_path / "work", str(tmp_path / "data")
    work.mkdir()
    dies = await asyncio.create_subprocess_exec(sys.executable, "-c", _DIES, str(work), cwd=ROOT)
    assert await dies.wait() == 0
    assert len(list(work.iterdir())) == 1  # a second old, and dead
    pipeline = EmbeddedPipeline(
        PipelineSettings(work_dir=str(work)),
        StoreUploads(FileStore(data)),
        FileAssetStore(data),
        FileMediaRecords(data),
        InProcessQueue(),
        crypto=CryptoSettings().placed(data, shared_storage=False),
    )
    try:
        await pipeline.start()  # what app.py runs at startup
    finally:
        await pipeline.close()
    assert list(work.iterdir()) == []
