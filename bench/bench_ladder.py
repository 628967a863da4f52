"""Benchmark: our PyAV HLS ladder against the ffmpeg command line making the same ladder.

Generates a synthetic 1080p30 clip with audio, then in the same run times
(a) ``transcode_hls`` in a child process (its peak RSS read with ``os.wait4``) and
(b) Debian's ``ffmpeg`` with one decode, a split into the same renditions, libx264 with the
same preset/CRF/VBV/keyint/scenecut/forced keyframes, AAC, and the hls muxer with the same
segment length. Prints wall times, the ratio ours/ffmpeg and both peak RSS figures.

    .venv/bin/python bench/bench_ladder.py            # 30 s clip (issue 4's target)
    .venv/bin/python bench/bench_ladder.py --quick    # 8 s clip, one run: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.15
TARGET_RSS_MIB = 600


def ensure_ffmpeg() -> str:
    if shutil.which("ffmpeg") is None:
        print("installing Debian's ffmpeg ...", flush=True)
        subprocess.run("apt-get update -qq && apt-get install -y -qq ffmpeg", shell=True, check=True)
    found = shutil.which("ffmpeg")
    assert found, "ffmpeg is still missing"
    return found


def make_source(path: Path, seconds: float) -> None:
    """1080p30 test pattern with light temporal noise (so x264 has real work) plus a stereo tone."""
    import av

    video_graph = f"testsrc2=s=1920x1080:r=30:d={seconds},noise=alls=6:allf=t"
    with (
        av.open(str(path), "w") as out,
        av.open(video_graph, format="lavfi") as vsrc,
        av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi") as asrc,
    ):
        video = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "16"})
        video.width, video.height, video.pix_fmt = 1920, 1080, "yuv420p"
        audio = out.add_stream("aac", rate=48_000)
        audio.layout = "stereo"
        sound = asrc.decode(audio=0)
        pending = next(sound, None)
        for frame in vsrc.decode(video=0):
            out.mux(video.encode(frame.reformat(format="yuv420p")))
            while pending is not None and pending.time <= frame.time:
                out.mux(audio.encode(pending))
                pending = next(sound, None)
        while pending is not None:
            out.mux(audio.encode(pending))
            pending = next(sound, None)
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def child(src: str, out_dir: str) -> None:
    """Run in a fresh interpreter: the job the worker's pool would run (minus thumbnails)."""
    from pipeline.transcode import LadderSettings, plan_ladder, probe, transcode_hls

    started = time.perf_counter()
    settings = LadderSettings()
    probed = probe(src)
    result = transcode_hls(src, out_dir, probed, plan_ladder(probed, settings), settings)
    print(json.dumps({"seconds": time.perf_counter() - started, "renditions": len(result.renditions)}))


def ffmpeg_command(ffmpeg: str, src: str, out_dir: str) -> list[str]:
    from pipeline.transcode import LadderSettings, plan_ladder, probe
    from pipeline.transcode.ladder import h264_level
    from pipeline.transcode.outputs import gop_frames

    settings = LadderSettings()
    probed = probe(src)
    ladder = plan_ladder(probed, settings)
    gop = gop_frames(probed.fps, settings.segment_seconds)
    seg = f"{settings.segment_seconds:g}"
    splits = "".join(f"[s{i}]" for i in range(len(ladder)))
    scales = ";".join(
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,format=yuv420p[v{i}]" for i, r in enumerate(ladder)
    )
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", src]
    cmd += ["-filter_complex", f"[0:v]split={len(ladder)}{splits};{scales}"]
    for i, r in enumerate(ladder):
        folder = Path(out_dir) / r.name
        folder.mkdir(parents=True, exist_ok=True)
        cmd += ["-map", f"[v{i}]", "-map", "0:a", "-c:v", "libx264", "-preset", settings.preset]
        cmd += ["-crf", str(settings.crf), "-maxrate", str(r.video_bitrate), "-bufsize", str(2 * r.video_bitrate)]
        cmd += ["-profile:v", "high", "-level:v", h264_level(r.width, r.height, probed.fps)]
        cmd += ["-x264-params", f"scenecut=0:keyint={gop}:min-keyint={gop}"]
        cmd += ["-force_key_frames", f"expr:gte(t,n_forced*{seg})"]
        cmd += ["-c:a", "aac", "-b:a", str(settings.audio_bitrate), "-ac", "2", "-ar", "48000"]
        cmd += ["-f", "hls", "-hls_time", seg, "-hls_playlist_type", "vod", "-hls_list_size", "0"]
        cmd += ["-hls_flags", "independent_segments", "-hls_segment_filename", str(folder / "seg_%05d.ts")]
        cmd += [str(folder / "index.m3u8")]
    return cmd


def timed(cmd: list[str], log: Path) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS MiB, stdout) of one child process. CPU time
    (user + system) is the fairer figure when other work shares the machine."""
    with open(log, "w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{text[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of 1080p30 source (default 30)")
    parser.add_argument("--quick", action="store_true", help="8 s clip, one run")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the median is reported")
    parser.add_argument("--child", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    seconds = 8.0 if args.quick else args.duration
    repeat = 1 if args.quick else max(1, args.repeat)
    ffmpeg = ensure_ffmpeg()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory(prefix="bench_ladder_") as tmp:
        work = Path(tmp)
        src = work / "source.mp4"
        print(f"generating a {seconds:g} s 1080p30 clip with audio ...", flush=True)
        make_source(src, seconds)
        ours_runs, theirs_runs, ours_cpu, theirs_cpu, ours_rss, theirs_rss = [], [], [], [], 0.0, 0.0
        for run in range(repeat):
            out = work / f"ours{run}"
            ours_cmd = [sys.executable, __file__, "--child", str(src), str(out)]
            wall, cpu, rss, text = timed(ours_cmd, work / "ours.log")
            inner = json.loads(text.strip().splitlines()[-1])["seconds"]
            ours_runs.append(wall)
            ours_cpu.append(cpu)
            ours_rss = max(ours_rss, rss)
            print(f"  ours   run {run + 1}: {wall:6.2f} s wall ({inner:.2f} s inside), {cpu:6.2f} s CPU, {rss:.0f} MiB")
            cmd = ffmpeg_command(ffmpeg, str(src), str(work / f"ffmpeg{run}"))
            wall, cpu, rss, _ = timed(cmd, work / "ffmpeg.log")
            theirs_runs.append(wall)
            theirs_cpu.append(cpu)
            theirs_rss = max(theirs_rss, rss)
            print(f"  ffmpeg run {run + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {rss:.0f} MiB")
        ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
        ratio = ours / theirs
        cpu_ratio = statistics.median(ours_cpu) / statistics.median(theirs_cpu)
        print(f"\n{version}; {os.cpu_count()} CPUs; {seconds:g} s 1080p30 source, ladder 1080/720/480/360")
        load = os.getloadavg()[0]
        print(f"ours   {ours:7.2f} s wall  {statistics.median(ours_cpu):7.2f} s CPU  peak RSS {ours_rss:6.0f} MiB")
        print(
            f"ffmpeg {theirs:7.2f} s wall  {statistics.median(theirs_cpu):7.2f} s CPU  peak RSS {theirs_rss:6.0f} MiB"
        )
        print(f"ratio ours/ffmpeg {ratio:.3f} wall, {cpu_ratio:.3f} CPU (target <= {TARGET_RATIO}); load {load:.1f}")
        print(f"RSS target < {TARGET_RSS_MIB} MiB")
        ok = ratio <= TARGET_RATIO and ours_rss < TARGET_RSS_MIB
        print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
