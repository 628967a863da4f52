"""process_upload end to end on the embedded parts (file store, file assets, file records, a real
process pool): ready, idempotent under duplicates and kills, a file that is no media stored,
broken media failed at once, transient storage trouble retried."""

from __future__ import annotations

import array
import asyncio
import base64
import math
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import m3u8
import pytest
from arq import Retry
from structlog.testing import capture_logs

from pipeline import jobs, scratch
from pipeline.assets import FileAssetStore, S3AssetStore
from pipeline.context import Deps, make_pool
from pipeline.contract import MediaRecord, MediaState
from pipeline.crypto.settings import CryptoSettings
from pipeline.pool import JobPool
from pipeline.records import FileMediaRecords, MediaRecords
from pipeline.scratch import NEW_PREFIX
from pipeline.settings import PipelineSettings
from pipeline.vault import MediaVault
from tusd_py.core.ports import Store
from tusd_py.processing import StoreUploads
from tusd_py.protocol.info import UploadInfo, UploadState
from tusd_py.stores.filesystem import FileStore
from tusd_py.stores.s3.client import open_client

ROOT = Path(__file__).resolve().parents[2]


def make_clip(
    path: Path, *, seconds: float = 1.5, width: int = 320, height: int = 240, fps: int = 24, noise: bool = False
) -> Path:
    """A small H.264 + AAC mp4 made with PyAV; ``noise`` makes it slow to encode (for kill tests)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=48000, layout="mono")
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            row = bytes((i * 7 + x) % 256 for x in range(width))
            frame.planes[0].update(os.urandom(width * height) if noise else row * height)
            frame.planes[1].update(bytes([128]) * (width * height // 4))
            frame.planes[2].update(bytes([(i * 3) % 256]) * (width * height // 4))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, int(seconds * 48000), 1024):
            tone = (0.2 * math.sin(2 * math.pi * 440 * (start + k) / 48000) for k in range(1024))
            chunk = av.AudioFrame(format="flt", layout="mono", samples=1024)
            chunk.planes[0].update(array.array("f", tone).tobytes())
            chunk.sample_rate, chunk.pts = 48000, start
            out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    return path


def pipeline_settings(**overrides: object) -> PipelineSettings:
    values: dict[str, object] = {
        "ladder_heights": (240,),
        "x264_preset": "ultrafast",
        "thumbnail_count": 2,
        "max_tries": 3,
        "retry_backoff": 2.0,
    }
    values.update(overrides)
    return PipelineSettings(**values)  # type: ignore[arg-type]


def crypto_settings(data_dir: Path | str) -> CryptoSettings:
    """The crypto section with its key file under ``data_dir`` (the embedded default)."""
    return CryptoSettings().placed(data_dir, shared_storage=False)


async def add_upload(store: Store, source: Path, filename: str = "clip.mp4") -> str:
    """A finished, handed-off upload holding ``source``'s bytes (what the tus side leaves behind)."""
    data = await asyncio.to_thread(source.read_bytes)
    meta = f"filename {base64.b64encode(filename.encode()).decode()}"
    upload = await store.create_upload(UploadInfo(id=uuid.uuid4().hex, size=len(data), metadata=meta))

    async def body() -> AsyncIterator[bytes]:
        yield data

    await upload.write_chunk(0, body())
    await upload.set_state(UploadState.HANDED_OFF)
    return (await upload.get_info()).id


@pytest.fixture(scope="module")
def pool() -> Iterator[JobPool]:
    executor = make_pool(1)
    yield executor
    executor.shutdown(cancel_futures=True)


@pytest.fixture
def deps(tmp_path: Path, pool: JobPool) -> Deps:
    data = tmp_path / "data"
    crypto = crypto_settings(data)
    uploads = StoreUploads(FileStore(data))
    return Deps(pipeline_settings(), uploads, FileAssetStore(data), FileMediaRecords(data), pool, crypto=crypto)


async def kill_once_it_progresses(records: MediaRecords, upload_id: str, proc: asyncio.subprocess.Process) -> None:
    """Wait until the job that ``proc`` runs reports progress on ``upload_id``, then kill ``proc``
    and its process group (the worker and its pool children: a machine dying)."""
    try:
        deadline = time.monotonic() + 120
        while True:
            record = await records.get(upload_id)
            if record is not None and record.state is MediaState.PROCESSING and record.progress > 0:
                break
            assert proc.returncode is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline, "the job never reported progress"
            await asyncio.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def assert_one_consistent_asset(deps: Deps | Any, upload_id: str) -> MediaRecord:
    """Ready, one attempt folder in storage, and every file the playlists name is there
    (playlists are stored encrypted: read through the vault, as delivery does)."""
    record = await deps.records.get(upload_id)
    assert record is not None and record.state is MediaState.READY, record
    keys = await deps.assets.list(f"media/{upload_id}/")
    attempts = {key.split("/")[2] for key in keys if key.count("/") >= 3}
    assert attempts == {record.attempt}
    vault = MediaVault(deps.records, deps.keys, deps.assets)
    master = m3u8.loads(await vault.read_text(record, record.master_playlist))
    assert [p.uri for p in master.playlists] == [r.playlist for r in record.renditions]
    for rendition in record.renditions:
        key = record.asset_key(rendition.playlist)
        playlist = m3u8.loads(await vault.read_text(record, rendition.playlist))
        assert playlist.is_endlist and playlist.segments
        base = key.rsplit("/", 1)[0] + "/"
        for segment in playlist.segments:
            assert base + segment.uri in keys
    assert record.asset_key(record.poster) in keys
    assert record.asset_key(record.original) in keys and record.source_dropped
    return record


async def test_a_clip_becomes_ready_with_monotonic_progress(deps: Deps, tmp_path: Path) -> None:
    upload_id = await add_upload(deps.uploads.store, make_clip(tmp_path / "clip.mp4"))
    seen: list[tuple[str, float]] = []

    async def watch() -> None:
        async with deps.records.watch(upload_id) as changes:
            async for record in changes:
                seen.append((str(record.state), record.progress))
                if record.state.terminal:
                    return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    record = await jobs.run(deps, upload_id, job_id="test", job_try=1)
    await asyncio.wait_for(watcher, 10)
    assert record is not None and record.state is MediaState.READY
    assert record.kind == "video" and abs(record.duration - 1.5) < 0.2
    assert [(r.width, r.height) for r in record.renditions] == [(320, 240)]
    assert seen[0] == ("processing", 0.0) and seen[-1] == ("ready", 100.0)
    assert [p for _, p in seen] == sorted(p for _, p in seen)
    await assert_one_consistent_asset(deps, upload_id)


async def test_duplicated_jobs_leave_exactly_one_asset(deps: Deps, tmp_path: Path) -> None:
    upload_id = await add_upload(deps.uploads.store, make_clip(tmp_path / "clip.mp4"))
    first, second = await asyncio.gather(jobs.run(deps, upload_id, job_try=1), jobs.run(deps, upload_id, job_try=1))
    assert first is not None and second is not None
    assert first.output_prefix == second.output_prefix
    await assert_one_consistent_asset(deps, upload_id)
    again = await jobs.run(deps, upload_id, job_try=1)  # a late duplicate: nothing to do
    assert again == await deps.records.get(upload_id)
    assert again is not None and again.output_prefix == first.output_prefix
    await assert_one_consistent_asset(deps, upload_id)


KILLABLE_JOB = """
import asyncio, sys
from pipeline import jobs
from pipeline.assets import FileAssetStore
from pipeline.context import Deps, make_pool
from pipeline.crypto.settings import CryptoSettings
from pipeline.records import FileMediaRecords
from pipeline.settings import PipelineSettings
from tusd_py.processing import StoreUploads
from tusd_py.stores.filesystem import FileStore

data, upload_id, work = sys.argv[1], sys.argv[2], sys.argv[3]
settings = PipelineSettings(work_dir=work, ladder_heights=(240,), x264_preset="medium", thumbnail_count=2)
crypto = CryptoSettings().placed(data, shared_storage=False)
uploads = StoreUploads(FileStore(data))
deps = Deps(settings, uploads, FileAssetStore(data), FileMediaRecords(data), make_pool(1), crypto=crypto)
asyncio.run(jobs.run(deps, upload_id, job_id="doomed", job_try=1))
"""


async def test_a_job_killed_mid_transcode_is_retried_to_one_consistent_asset(deps: Deps, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=8, noise=True)
    upload_id = await add_upload(deps.uploads.store, clip)
    data, work = str(tmp_path / "data"), tmp_path / "work"
    work.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLABLE_JOB, data, upload_id, str(work), cwd=ROOT, start_new_session=True
    )
    await kill_once_it_progresses(deps.records, upload_id, proc)
    killed = await deps.records.get(upload_id)
    assert killed is not None and killed.state is MediaState.PROCESSING and killed.job_id == "doomed"
    left = list(work.iterdir())  # the dead job's source and partial renditions
    assert len(left) == 1 and left[0].name.startswith(scratch.PREFIX)
    assert scratch.remove_abandoned(str(work)) == 1  # what the next worker does at its start
    assert list(work.iterdir()) == []
    record = await jobs.run(deps, upload_id, job_id="retry", job_try=2)
    assert record is not None and record.state is MediaState.READY and record.attempt != killed.attempt
    await assert_one_consistent_asset(deps, upload_id)


@pytest.mark.parametrize("kind", ["mp4 header", "truncated"])
async def test_bad_media_fails_at_once_and_the_pool_keeps_working(deps: Deps, tmp_path: Path, kind: str) -> None:
    whole = make_clip(tmp_path / "whole.mp4").read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(whole[:64] + b"\x00" * 4096 if kind == "mp4 header" else whole[: len(whole) // 3])
    bad_id = await add_upload(deps.uploads.store, bad)
    with capture_logs() as logs:
        record = await jobs.run(deps, bad_id, job_try=1, final=False)  # not the last try: still no retry
    assert record is not None and record.state is MediaState.FAILED
    assert "job_failed" in {e["event"] for e in logs if e["log_level"] == "warning"}
    assert record.reason and "Traceback" not in record.reason
    assert [k for k in await deps.assets.list(f"media/{bad_id}/") if k.count("/") >= 3] == []  # no outputs
    good_id = await add_upload(deps.uploads.store, make_clip(tmp_path / "good.mp4"))
    good = await jobs.run(deps, good_id, job_try=1)
    assert good is not None and good.state is MediaState.READY


async def test_scratch_space_is_made_only_for_media_and_removed_after(
    tmp_path: Path, pool: JobPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file-store upload is read in place and probed first: one that is no media costs no
    directory (each made and freed inode also slows the next file creation on ext4)."""
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: Any, **kwargs: Any) -> str:
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    scratch.mkdir()
    settings = pipeline_settings(work_dir=str(scratch))
    crypto = crypto_settings(data)
    uploads = StoreUploads(FileStore(data))
    deps = Deps(settings, uploads, FileAssetStore(data), FileMediaRecords(data), pool, crypto=crypto)
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my holiday notes, not a video\n" * 50)
    stored = await jobs.run(deps, await add_upload(deps.uploads.store, notes, "notes.txt"), job_try=1)
    assert stored is not None and stored.state is MediaState.STORED and stored.reason.startswith("not a media file")
    assert made == []
    ready = await jobs.run(deps, await add_upload(deps.uploads.store, make_clip(tmp_path / "clip.mp4")), job_try=1)
    assert ready is not None and ready.state is MediaState.READY
    # one job dir: made under its hidden name, then renamed once locked (scratch.py)
    assert made and {Path(m).relative_to(scratch).parts[0].removeprefix(NEW_PREFIX) for m in made} == {
        Path(made[0]).name.removeprefix(NEW_PREFIX)
    }
    assert list(scratch.iterdir()) == []  # removed after publishing


@pytest.mark.parametrize("content", [b"hello", b"these are my holiday notes, not a video\n" * 50, b"%PDF-1.7\n" * 300])
async def test_a_file_that_is_no_media_is_stored_as_it_is_without_a_warning(
    deps: Deps, tmp_path: Path, content: bytes
) -> None:
    plain = tmp_path / "notes.mp4"  # the name does not make it media
    plain.write_bytes(content)
    upload_id = await add_upload(deps.uploads.store, plain)
    with capture_logs() as logs:
        record = await jobs.run(deps, upload_id, job_try=1, final=False)
    assert record is not None and record.state is MediaState.STORED and record.state.terminal
    assert record.reason.startswith("not a media file") and record.kind == "file" and record.progress == 100
    assert not record.original and not record.source_dropped and not record.data_key
    assert [e["event"] for e in logs if e["log_level"] in ("warning", "error", "critical")] == []
    assert "job_stored" in [e["event"] for e in logs if e["log_level"] == "info"]
    assert await deps.assets.list(f"media/{upload_id}/") == []  # no outputs, no encrypted copy
    store = deps.uploads.store
    reader = store.as_readable_upload(await store.get_upload(upload_id))  # type: ignore[attr-defined]
    assert b"".join([chunk async for chunk in reader.read(0, len(content))]) == content  # kept as sent
    assert await jobs.run(deps, upload_id, job_try=1) == record  # a duplicate job: nothing to do
    assert await jobs.mark_failed(deps, upload_id, "late") == record  # and no late failure overrides it


async def test_a_vanished_upload_fails_without_retry(deps: Deps) -> None:
    record = await jobs.run(deps, "0123456789abcdef", job_try=1, final=False)
    assert record is not None and record.state is MediaState.FAILED and "no longer exists" in record.reason


async def test_unreachable_storage_is_retried_with_backoff_then_fails(deps: Deps, tmp_path: Path) -> None:
    from tests.fixtures.moto_server import free_port

    upload_id = await add_upload(deps.uploads.store, make_clip(tmp_path / "clip.mp4"))
    async with open_client(endpoint_url=f"http://127.0.0.1:{free_port()}", path_style=True) as client:
        deps.assets = S3AssetStore(client, "nobucket")  # nothing listens there: connection refused
        deps.publisher.assets = deps.assets
        ctx = {"deps": deps, "job_id": "j", "job_try": 1}
        with pytest.raises(Retry) as retry:
            await jobs.process_upload(ctx, upload_id)
        assert retry.value.defer_score == 2000  # retry_backoff for the first retry, in ms
        record = await deps.records.get(upload_id)
        assert record is not None and record.state is MediaState.RETRYING  # not failed: it will run again
        assert record.tries == 2 and "next in 2 s" in record.reason  # the try that comes next, and when
        ctx["job_try"] = deps.settings.max_tries  # the last try gives up with a reason
        assert await jobs.process_upload(ctx, upload_id) == "failed"
    record = await deps.records.get(upload_id)
    assert record is not None and record.state is MediaState.FAILED and "after 3 tries" in record.reason


async def test_progress_comes_through_the_pool_as_a_fraction_that_moves(tmp_path: Path, pool: JobPool) -> None:
    """The transcode core reports percent; the channel carries 0..1 with steps in between, not a jump to the end."""
    from pipeline import work

    clip = make_clip(tmp_path / "clip.mp4", seconds=3.0)
    ladder_settings = {"heights": (240,), "preset": "ultrafast", "crf": 23, "segment_seconds": 1, "thumbnail_count": 1}
    fractions: list[float] = []
    finished = asyncio.Event()

    def received(fraction: float) -> None:
        fractions.append(fraction)
        if fraction >= 1.0:
            finished.set()

    with pool.progress_to(received) as token:
        args = (str(clip), str(tmp_path / "out"), ladder_settings, token)
        result = await asyncio.get_running_loop().run_in_executor(pool, work.process_media, *args)
        await asyncio.wait_for(finished.wait(), 10)  # the last report may trail the result by a moment
    assert "error" not in result
    assert fractions[-1] == 1.0
    assert all(0.0 <= value <= 1.0 for value in fractions)
    assert fractions == sorted(fractions)
    assert any(0.1 < value < 0.9 for value in fractions), fractions  # real steps, not 0 then done


async def test_a_cancelled_job_stops_its_pool_worker_at_once(deps: Deps, tmp_path: Path) -> None:
    """Timeout, shutdown or a deleted upload cancel the job; the pool worker must not transcode on."""
    deps.settings = deps.settings.model_copy(update={"x264_preset": "medium"})  # slow enough to catch mid-transcode
    upload_id = await add_upload(deps.uploads.store, make_clip(tmp_path / "long.mp4", seconds=8, noise=True))
    job = asyncio.create_task(jobs.run(deps, upload_id, job_id="cancelled", job_try=1))
    deadline = time.monotonic() + 120
    while True:
        record = await deps.records.get(upload_id)
        if record is not None and record.state is MediaState.PROCESSING and record.progress > 0:
            break
        assert not job.done(), "the job ended before it could be cancelled"
        assert time.monotonic() < deadline, "the job never reported progress"
        await asyncio.sleep(0.05)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    started = time.monotonic()
    # one worker: it answers only once it has left the transcode
    assert await asyncio.get_running_loop().run_in_executor(deps.pool, os.getpid) > 0
    assert time.monotonic() - started < 5.0
    record = await deps.records.get(upload_id)
    assert record is not None and record.progress < 99.0


@pytest.mark.parametrize(
    ("priority", "niceness", "policy"),
    [("normal", 0, os.SCHED_OTHER), ("low", 10, os.SCHED_OTHER), ("idle", 0, os.SCHED_IDLE)],
)
def test_the_pool_runs_at_the_configured_cpu_priority(priority: str, niceness: int, policy: int) -> None:
    base = os.nice(0)
    pool = make_pool(1, priority)
    try:
        assert pool.submit(os.nice, 0).result(timeout=60) == min(base + niceness, 19)  # 19 is the floor
        assert pool.submit(os.sched_getscheduler, 0).result(timeout=60) == policy
    finally:
        pool.shutdown()


_KILLED_PARENT = """
import os, signal, sys
from pipeline.context import make_pool
pool = make_pool(1)
print(pool.submit(os.getpid).result(timeout=60), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no shutdown, no exit handlers
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only not reaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_pool_children_go_when_the_server_is_killed(tmp_path: Path) -> None:
    """A child of a server killed with kill -9 goes too, rather than wait forever on its pipe, holding memory."""
    import subprocess

    out = tmp_path / "out.txt"
    with open(out, "w") as fh:  # a file, not a pipe: a surviving child would hold a pipe open
        done = subprocess.run([sys.executable, "-c", _KILLED_PARENT], stdout=fh, stderr=fh, timeout=120)
    assert done.returncode == -signal.SIGKILL, out.read_text()
    child = int(out.read_text().split()[0])
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = _alive(child)
    if survived:  # not left behind for the tests that follow
        os.kill(child, signal.SIGKILL)
    assert not survived
