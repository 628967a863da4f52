"""How long a dead worker's job waits before it runs again, with the DEFAULT settings.

A real deployment in processes (redis-server with its AOF, moto's S3, ``tusd-py serve``, ``tusd-py
worker``; tests/recovery/stack.py): a noisy clip is uploaded, the worker is killed with SIGKILL
(its process group: the pool children too) once the transcode reports progress, and a new worker
is started at once, as a supervisor would. Measured from the kill, as ``GET /media/<id>`` shows
it: when the status says ``retrying`` (the watchdog released the job), when try 2 is
``processing``, and when the job is ``ready``. Nothing is shortened: TUSD_JOB_HEARTBEAT 15 s,
TUSD_JOB_TIMEOUT 3600 s.

    .venv/bin/python bench/bench_recovery.py [--runs N] [--seconds CLIP_SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' deployment helpers

from tests.pipeline.test_jobs import make_clip
from tests.recovery.stack import Tus, deploy


async def one_run(tmp: Path, clip_seconds: float) -> dict[str, float]:
    deployment = deploy(tmp, TUSD_LOG_LEVEL="warning", TUSD_AUTH="none")  # an open server: no tokens to make
    try:
        deployment.start_server()
        doomed = deployment.start_worker()
        clip = make_clip(tmp / "clip.mp4", seconds=clip_seconds, noise=True).read_bytes()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            tus = Tus(http, deployment.url)
            video = await tus.upload(clip)
            await tus.wait_for(video, lambda s: s["state"] == "processing" and s["progress"] > 0, timeout=300)
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
            killed = time.monotonic()
            deployment.start_worker()
            marks: dict[str, float] = {}
            seen: list[str] = []

            def note(status: dict[str, object]) -> bool:
                state = status["state"]
                if state == "retrying":
                    marks.setdefault("retrying", time.monotonic() - killed)
                elif state == "processing" and "retrying" in marks:
                    marks.setdefault("try 2 processing", time.monotonic() - killed)
                return state in ("ready", "failed")

            final = await tus.wait_for(video, note, timeout=900, seen=seen)
            marks["ready" if final["state"] == "ready" else "failed"] = time.monotonic() - killed
            return marks
    finally:
        deployment.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the generated clip")
    args = parser.parse_args()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp:
            marks = asyncio.run(one_run(Path(tmp), args.seconds))
        print(f"run {run + 1}: " + ", ".join(f"{name} after {seconds:.1f} s" for name, seconds in marks.items()))


if __name__ == "__main__":
    main()
