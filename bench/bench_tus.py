"""Throughput and peak memory of ``tusd-py serve``, next to baselines measured in the same run.

    .venv/bin/python bench/bench_tus.py [--store file|s3|both] [--repeat 3] [--quick] [--json out.json]
    .venv/bin/python bench/bench_tus.py --auth [--repeat 3]

File store: the same tus load against ``tusd-py serve`` (TUSD_STORE=file) and against
``bench/baseline_server.py`` (bare aiohttp streaming PATCH bodies to a file):
  8 uploads x 64 MiB at concurrency 4 in 8 MiB PATCHes; 1 x 512 MiB in one PATCH;
  200 x 1 MiB at concurrency 16.
With ``--auth``: the file store's tus load against ``tusd-py serve`` with TUSD_AUTH=local (an
account registered and logged in once, ``Authorization: Bearer`` on every request) next to the
same server with TUSD_AUTH=none, on 200 x 1 MiB (or the ``--only`` workloads); target ratio 0.9.
Every other run is open (TUSD_AUTH=none), as the figures before accounts were.
S3 store: ``tusd-py serve`` (TUSD_STORE=s3, private redis-server) against moto's server, next to
moto's raw multipart ceiling (aiobotocore uploading 8 MiB parts straight to moto) on 8 x 64 MiB
at concurrency 4, and our peak RSS during one 512 MiB PATCH.

Every server is a fresh subprocess per measurement, so its peak RSS (VmHWM), its CPU time and
the time its main thread waited for a CPU (schedstat: contention on the cores) belong to that
workload alone; moto and Redis run in their own processes. Each figure is the median of
``--repeat`` runs; a ratio is taken within one run, then the median of the ratios is shown.
MB/s counts 10^6 bytes. Targets (issues 2 and 3) are marked ok/MISS; they never fail the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _s3
from _procs import (
    AWS_ENV,
    ROOT,
    VENV_BIN,
    MiB,
    Service,
    cpu_seconds,
    free_port,
    queue_seconds,
    start,
    start_moto,
    start_redis,
)
from _tusload import Payload, Workload, run_workload

FILE_WORKLOADS = [
    Workload("8 x 64 MiB, 8 MiB PATCHes, c4", 8, 64 * MiB, 8 * MiB, 4),
    Workload("1 x 512 MiB, single PATCH", 1, 512 * MiB, 512 * MiB, 1),
    Workload("200 x 1 MiB, c16", 200, 1 * MiB, 1 * MiB, 16),
]
FILE_QUICK = [
    Workload("4 x 4 MiB, 1 MiB PATCHes, c2", 4, 4 * MiB, 1 * MiB, 2),
    Workload("1 x 16 MiB, single PATCH", 1, 16 * MiB, 16 * MiB, 1),
    Workload("20 x 256 KiB, c4", 20, 256 * 1024, 256 * 1024, 4),
]
S3_WORKLOADS = FILE_WORKLOADS[:2]
S3_QUICK = [
    Workload("2 x 16 MiB, 8 MiB PATCHes, c2", 2, 16 * MiB, 8 * MiB, 2),
    Workload("1 x 24 MiB, single PATCH", 1, 24 * MiB, 24 * MiB, 1),
]
FILE_RATIO, FILE_RSS, S3_RATIO, S3_RSS = 0.70, 120 * MiB, 0.80, 150 * MiB
AUTH_RATIO = 0.90  # issue 13: auth=local against auth=none
AUTH_ENV = {  # accounts on, the per-user limits far above what the load sends
    "TUSD_AUTH": "local",
    "TUSD_RATE_API_USER": "1000000/minute",
    "TUSD_RATE_UPLOADS_USER": "1000000/hour",
}
BENCH_PASSWORD = "bench password 0123456789"
BY_NAME = {w.name: w for w in FILE_WORKLOADS + FILE_QUICK + S3_WORKLOADS + S3_QUICK}
SERVER_ENV: dict[str, str] = {}  # --env: extra TUSD_* settings for our server (tuning experiments)


@dataclass
class Sample:
    seconds: float
    mbps: float
    rss: int  # bytes, peak resident memory of the server process (0 when not measured)
    cpu: float  # seconds of server CPU during the workload (0 when not measured)
    waited: float = 0.0  # seconds the server's main thread waited for a CPU (0 when not measured)


def _finish(service: Service | None, seconds: float, total: int) -> Sample:
    rss = service.rss.read() if service else 0
    cpu = service.cpu_used() if service else 0.0
    waited = service.queue_used() if service else 0.0
    return Sample(seconds, total / seconds / 1e6, rss, cpu, waited)


def _bytes_on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and "." not in p.name)


def _ours(name: str, env: dict[str, str], data_dir: Path, logs: Path) -> Service:
    port = free_port()
    env = {"TUSD_AUTH": "none", **env, **SERVER_ENV}
    env.update({"TUSD_HOST": "127.0.0.1", "TUSD_PORT": str(port), "TUSD_DATA_DIR": str(data_dir)})
    return start(name, [str(VENV_BIN / "tusd-py"), "serve"], env=env, url=f"http://127.0.0.1:{port}", log_dir=logs)


def _baseline(data_dir: Path, logs: Path) -> Service:
    port = free_port()
    argv = [
        sys.executable,
        str(ROOT / "bench" / "baseline_server.py"),
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    return start("baseline", argv, env={}, url=f"http://127.0.0.1:{port}", log_dir=logs)


async def _access_token(url: str) -> str:
    """Register an account on a fresh server and log in once (before the clock starts)."""
    import aiohttp

    body = {"email": "bench@example.com", "password": BENCH_PASSWORD}
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/auth/register", json=body) as resp:
            if resp.status != 201:
                raise RuntimeError(f"register: HTTP {resp.status}: {await resp.text()}")
        async with session.post(url + "/auth/login", json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"login: HTTP {resp.status}: {await resp.text()}")
            token: str = (await resp.json())["access_token"]
            return token


def _drive(service: Service, w: Workload, payload: Payload, *, login: bool = False) -> Sample:
    """Run the workload against a started server, then stop it (its log on stderr if it failed)."""
    try:
        headers = None
        if login:
            headers = {"Authorization": f"Bearer {asyncio.run(_access_token(service.url))}"}
            # the account's two password hashes are set-up, like the server's start: not the load's CPU
            service.cpu_at_ready = cpu_seconds(service.proc.pid) or 0.0
            service.queued_at_ready = queue_seconds(service.proc.pid) or 0.0
        seconds, _ = asyncio.run(run_workload(service.url + "/files/", w, payload, headers))
        return _finish(service, seconds, w.total)
    except Exception:
        print(service.log_tail(), file=sys.stderr)
        raise
    finally:
        service.stop()


def _retire(directory: Path) -> None:
    """Free a finished run's disk space but keep its inodes until the end of the benchmark.

    Deleting hundreds of files right before the next measured run slows that run's file
    creation, whichever server it is: ext4 without a journal skips recently freed inodes when
    it allocates (docs/benchmarks.md has the figures).
    Truncating frees the blocks and frees no inode; the temporary directory goes at the end.
    """
    for path in directory.rglob("*"):
        if path.is_file():
            os.truncate(path, 0)


def measure_file(kind: str, w: Workload, payload: Payload, tmp: Path) -> Sample:
    os.sync()  # start from clean page cache: the previous run's dirty pages would throttle this one's writes
    data_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmp))
    service = (
        _baseline(data_dir, tmp) if kind == "baseline" else _ours("ours-file", {"TUSD_STORE": "file"}, data_dir, tmp)
    )
    sample = _drive(service, w, payload)
    stored = _bytes_on_disk(data_dir)
    _retire(data_dir)
    if stored != w.total:
        raise RuntimeError(f"{kind}: {stored} bytes on disk after {w.name}, expected {w.total}")
    return sample


def measure_s3(kind: str, w: Workload, payload: Payload, tmp: Path, s3: dict[str, str]) -> Sample:
    endpoint, bucket = s3["endpoint"], s3["bucket"]
    if kind == "ceiling":
        seconds = asyncio.run(_s3.ceiling(endpoint, bucket, w, payload))
        sample = _finish(None, seconds, w.total)
    else:
        env = {
            **AWS_ENV,
            "TUSD_STORE": "s3",
            "TUSD_S3_BUCKET": bucket,
            "TUSD_S3_ENDPOINT_URL": endpoint,
            "TUSD_S3_PATH_STYLE": "true",
            "TUSD_REDIS_URL": s3["redis"],
            "TUSD_MASTER_KEY": s3["master_key"],  # an S3 deployment must be given its key
        }
        data_dir = Path(tempfile.mkdtemp(prefix="ours-s3-", dir=tmp))
        service = _ours("ours-s3", env, data_dir, tmp)
        try:
            sample = _drive(service, w, payload)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    stored = asyncio.run(_s3.stored_bytes(endpoint, bucket))
    asyncio.run(_s3.empty_bucket(endpoint, bucket))
    if stored != w.total:
        raise RuntimeError(f"{kind}: {stored} bytes in S3 after {w.name}, expected {w.total}")
    return sample


def measure_auth(kind: str, w: Workload, payload: Payload, tmp: Path) -> Sample:
    """The file store with accounts ('local') or open ('none'); the files are checked as above."""
    os.sync()
    data_dir = Path(tempfile.mkdtemp(prefix=f"auth-{kind}-", dir=tmp))
    env = {"TUSD_STORE": "file", **(AUTH_ENV if kind == "local" else {"TUSD_AUTH": "none"})}
    sample = _drive(_ours(f"ours-auth-{kind}", env, data_dir, tmp), w, payload, login=kind == "local")
    stored = _bytes_on_disk(data_dir / "uploads")
    _retire(data_dir)
    if stored != w.total:
        raise RuntimeError(f"auth {kind}: {stored} bytes on disk after {w.name}, expected {w.total}")
    return sample


Results = dict[str, dict[str, list[Sample]]]  # workload name -> kind -> one sample per repeat


def run_auth(workloads: list[Workload], repeat: int, payload: Payload, tmp: Path) -> Results:
    results: Results = {w.name: {"local": [], "none": []} for w in workloads}
    for r in range(repeat):
        for w in workloads:
            for kind in ["none", "local"] if r % 2 == 0 else ["local", "none"]:
                sample = measure_auth(kind, w, payload, tmp)
                results[w.name][kind].append(sample)
                _progress("auth", r, w, kind, sample)
    return results


def report_auth(results: Results, repeat: int) -> None:
    print(f"\nFile store: TUSD_AUTH=local vs TUSD_AUTH=none (median of {repeat}; MB = 10^6 bytes)")
    print(f"{'workload':<34}{'local MB/s':>11}{'none MB/s':>10}{'ratio':>8}     {'local CPU':>10}{'none CPU':>10}")
    for name, kinds in results.items():
        local, none = kinds["local"], kinds["none"]
        ratio = _ratio(local, none)
        print(
            f"{name:<34}{_med(local, 'mbps'):>11.1f}{_med(none, 'mbps'):>10.1f}{ratio:>8.2f} "
            f"{_mark(ratio >= AUTH_RATIO):<4}{_med(local, 'cpu'):>8.2f} s{_med(none, 'cpu'):>8.2f} s"
        )
    print(f"target: ratio >= {AUTH_RATIO} (issue 13)")


def run_file(workloads: list[Workload], repeat: int, payload: Payload, tmp: Path) -> Results:
    results: Results = {w.name: {"ours": [], "baseline": []} for w in workloads}
    for r in range(repeat):
        for w in workloads:
            kinds = ["baseline", "ours"] if r % 2 == 0 else ["ours", "baseline"]  # alternate who goes first
            for kind in kinds:
                sample = measure_file(kind, w, payload, tmp)
                results[w.name][kind].append(sample)
                _progress("file", r, w, kind, sample)
    return results


def run_s3(workloads: list[Workload], repeat: int, payload: Payload, tmp: Path) -> Results:
    results: Results = {w.name: {"ours": []} if w.single_patch else {"ours": [], "ceiling": []} for w in workloads}
    os.environ.update(AWS_ENV)  # moto takes any credentials; the ceiling's client needs some
    redis_proc, redis_url = start_redis(tmp)
    moto = start_moto(tmp)
    try:
        bucket = asyncio.run(_s3.create_bucket(moto.url))
        s3 = {"endpoint": moto.url, "redis": redis_url, "bucket": bucket, "master_key": os.urandom(32).hex()}
        for r in range(repeat):
            for w in workloads:
                kinds = ["ours"] if w.single_patch else (["ceiling", "ours"] if r % 2 == 0 else ["ours", "ceiling"])
                for kind in kinds:
                    sample = measure_s3(kind, w, payload, tmp, s3)
                    results[w.name][kind].append(sample)
                    _progress("s3", r, w, kind, sample)
    finally:
        moto.stop()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    return results


def _progress(store: str, r: int, w: Workload, kind: str, s: Sample) -> None:
    rss = f", peak RSS {s.rss / MiB:.1f} MiB, CPU {s.cpu:.2f} s, waited for a CPU {s.waited:.2f} s" if s.rss else ""
    print(f"  [{store} run {r + 1}] {w.name:<32} {kind:<8} {s.mbps:8.1f} MB/s{rss}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _ratio(ours: list[Sample], other: list[Sample]) -> float:
    return _median([a.mbps / b.mbps for a, b in zip(ours, other, strict=True)])


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def _med(samples: list[Sample], attr: str) -> float:
    return _median([float(getattr(s, attr)) for s in samples])


def report_file(results: Results, repeat: int) -> None:
    print(f"\nFile store: tusd-py vs bare aiohttp baseline (median of {repeat}; MB = 10^6 bytes)")
    head = f"{'ours MB/s':>10}{'base MB/s':>10}{'ratio':>8}     {'ours RSS':>11}{'base RSS':>11}"
    print(f"{'workload':<34}{head}{'ours CPU':>10}{'base CPU':>10}")
    for name, kinds in results.items():
        ours, base = kinds["ours"], kinds["baseline"]
        ratio, rss = _ratio(ours, base), _med(ours, "rss")
        rss_mark = f"  {_mark(rss < FILE_RSS)} (RSS < {FILE_RSS // MiB})" if BY_NAME[name].single_patch else ""
        print(
            f"{name:<34}{_med(ours, 'mbps'):>10.1f}{_med(base, 'mbps'):>10.1f}"
            f"{ratio:>8.2f} {_mark(ratio >= FILE_RATIO):<4}"
            f"{rss / MiB:>7.1f} MiB{_med(base, 'rss') / MiB:>7.1f} MiB"
            f"{_med(ours, 'cpu'):>8.2f} s{_med(base, 'cpu'):>8.2f} s{rss_mark}"
        )
    print(f"targets: ratio >= {FILE_RATIO} on every workload; peak RSS < {FILE_RSS // MiB} MiB on the 512 MiB PATCH")
    waits = ", ".join(
        f"{name}: {_med(kinds['ours'], 'waited'):.2f} s / {_med(kinds['baseline'], 'waited'):.2f} s"
        for name, kinds in results.items()
    )
    print(f"servers' main thread waiting for a CPU, ours / baseline (contention): {waits}")


def report_s3(results: Results, repeat: int) -> None:
    print(f"\nS3 store on moto: tusd-py vs moto's raw multipart ceiling (median of {repeat}; MB = 10^6 bytes)")
    print(f"{'workload':<34}{'ours MB/s':>10}{'ceil MB/s':>10}{'ratio':>8}     {'ours RSS':>11}{'ours CPU':>10}")
    for name, kinds in results.items():
        ours = kinds["ours"]
        rss = _med(ours, "rss")
        ceil, ratio = f"{'-':>10}", f"{'-':>8}     "
        if "ceiling" in kinds:
            value = _ratio(ours, kinds["ceiling"])
            ceil, ratio = f"{_med(kinds['ceiling'], 'mbps'):>10.1f}", f"{value:>8.2f} {_mark(value >= S3_RATIO):<4}"
        rss_mark = f"  {_mark(rss < S3_RSS)} (RSS < {S3_RSS // MiB})" if BY_NAME[name].single_patch else ""
        figures = f"{_med(ours, 'mbps'):>10.1f}{ceil}{ratio}{rss / MiB:>7.1f} MiB{_med(ours, 'cpu'):>8.2f} s"
        print(f"{name:<34}{figures}{rss_mark}")
    print(f"targets: ratio >= {S3_RATIO} on 8 x 64 MiB; peak RSS < {S3_RSS // MiB} MiB on the 512 MiB PATCH")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["file", "s3", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=0, help="runs per figure, median shown (default 3, quick 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check, not a measurement")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    parser.add_argument("--only", default="", help="run only the workloads whose name contains this text")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra setting for tusd-py")
    parser.add_argument("--dir", type=Path, help="where the servers write (default: the system temp directory)")
    parser.add_argument(
        "--auth", action="store_true", help="file store: TUSD_AUTH=local vs none (200 x 1 MiB unless --only)"
    )
    args = parser.parse_args()
    SERVER_ENV.update(item.split("=", 1) for item in args.env)
    repeat = args.repeat or (1 if args.quick else 3)
    stores = ["file", "s3"] if args.store == "both" else [args.store]
    payload = Payload()
    results: dict[str, Results] = {}
    with tempfile.TemporaryDirectory(prefix="tusd-bench-", dir=args.dir) as tmpdir:
        tmp = Path(tmpdir)
        if args.auth:
            only = args.only or ("256 KiB" if args.quick else "200 x 1 MiB")
            workloads = [w for w in (FILE_QUICK if args.quick else FILE_WORKLOADS) if only in w.name]
            results["auth"] = run_auth(workloads, repeat, payload, tmp)
            stores = []
        if "file" in stores:
            workloads = [w for w in (FILE_QUICK if args.quick else FILE_WORKLOADS) if args.only in w.name]
            results["file"] = run_file(workloads, repeat, payload, tmp)
        if "s3" in stores:
            workloads = [w for w in (S3_QUICK if args.quick else S3_WORKLOADS) if args.only in w.name]
            results["s3"] = run_s3(workloads, repeat, payload, tmp)
    if "auth" in results:
        report_auth(results["auth"], repeat)
    if "file" in results:
        report_file(results["file"], repeat)
    if "s3" in results:
        report_s3(results["s3"], repeat)
    if args.quick:
        print("\n--quick: small sizes, a smoke check only; the targets are about the full workloads")
    if args.json:
        doc = {
            store: {w: {k: [asdict(s) for s in v] for k, v in kinds.items()} for w, kinds in res.items()}
            for store, res in results.items()
        }
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
