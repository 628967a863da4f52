"""What the API server spends when the bytes go straight to S3, beside tus through it.

    .venv/bin/python bench/bench_direct.py [--repeat 3] [--quick] [--json out.json]

Against moto's server (a subprocess) and a private redis-server, the same workload twice, each
with a fresh ``tusd-py serve`` (TUSD_STORE=s3, Redis records):
  tus     8 uploads x 64 MiB at concurrency 4 in 8 MiB PATCHes through the server
          (``bench_tus.measure_s3``, the S3 figure of bench_tus.py);
  direct  the same 8 x 64 MiB through the signing API (TUSD_DIRECT_UPLOADS=true): per upload,
          create, one batch of 8 presigned part URLs, 8 parts of 8 MiB PUT straight to moto,
          complete (the server lists the parts and completes); 4 uploads at a time.
Then both again for one upload of 512 MiB (64 parts of 8 MiB, signed in one batch): the server's
direct cost is per upload and per part, not per byte.
The figure is the server's CPU seconds per GiB uploaded (its process alone: moto and Redis run
in their own), the median of ``--repeat`` runs; MB/s counts 10^6 bytes.
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _s3
import aiohttp
from _procs import AWS_ENV, MiB, Service, start_moto, start_redis
from _tusload import Payload, Workload
from bench_tus import Sample, _finish, _ours, measure_s3

GiB = 1024 * MiB
PART = 8 * MiB
WORKLOADS = [Workload("8 x 64 MiB, c4", 8, 64 * MiB, PART, 4), Workload("1 x 512 MiB", 1, 512 * MiB, PART, 1)]
QUICK = [Workload("2 x 16 MiB, c2", 2, 16 * MiB, PART, 2)]


async def _direct_one(http: aiohttp.ClientSession, url: str, size: int, part: bytes) -> None:
    async with http.post(f"{url}/s3/multipart", json={"filename": "bench.bin", "size": size}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"create: HTTP {resp.status}: {await resp.text()}")
        created = await resp.json()
    upload_id, key = created["uploadId"], created["key"]
    numbers = list(range(1, -(-size // PART) + 1))
    urls: dict[str, str] = {}
    for first in range(0, len(numbers), 100):  # at most 100 numbers per batch
        query = {"key": key, "partNumbers": ",".join(map(str, numbers[first : first + 100]))}
        async with http.get(f"{url}/s3/multipart/{upload_id}/batch", params=query) as resp:
            urls.update((await resp.json())["presignedUrls"])
    parts = []
    for number in numbers:  # one part after the other, like the ceiling of bench_tus.py
        body = part[: min(PART, size - (number - 1) * PART)]
        async with http.put(urls[str(number)], data=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"part {number}: HTTP {resp.status}: {await resp.text()}")
            parts.append({"PartNumber": number, "ETag": resp.headers["ETag"]})
    async with http.post(
        f"{url}/s3/multipart/{upload_id}/complete", params={"key": key}, json={"parts": parts}
    ) as resp:
        if resp.status != 200:
            raise RuntimeError(f"complete: HTTP {resp.status}: {await resp.text()}")


async def _direct_load(url: str, w: Workload, payload: Payload) -> float:
    block = payload.block
    part = (block * (PART // len(block) + 1))[:PART]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(w.uploads):
        queue.put_nowait(i)
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                await _direct_one(http, url, w.size, part)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(w.concurrency)))
        return time.perf_counter() - started


def measure_direct(w: Workload, payload: Payload, tmp: Path, s3: dict[str, str]) -> Sample:
    env = {
        **AWS_ENV,
        "TUSD_STORE": "s3",
        "TUSD_S3_BUCKET": s3["bucket"],
        "TUSD_S3_ENDPOINT_URL": s3["endpoint"],
        "TUSD_S3_PATH_STYLE": "true",
        "TUSD_REDIS_URL": s3["redis"],
        "TUSD_MASTER_KEY": s3["master_key"],
        "TUSD_DIRECT_UPLOADS": "true",
    }
    data_dir = Path(tempfile.mkdtemp(prefix="ours-direct-", dir=tmp))
    service: Service = _ours("ours-direct", env, data_dir, tmp)
    try:
        seconds = asyncio.run(_direct_load(service.url, w, payload))
        sample = _finish(service, seconds, w.total)
    except Exception:
        print(service.log_tail(), file=sys.stderr)
        raise
    finally:
        service.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    stored = asyncio.run(_s3.stored_bytes(s3["endpoint"], s3["bucket"]))
    asyncio.run(_s3.empty_bucket(s3["endpoint"], s3["bucket"]))
    if stored != w.total:
        raise RuntimeError(f"direct: {stored} bytes in S3 after {w.name}, expected {w.total}")
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=0, help="runs per figure, median shown (default 3, quick 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check, not a measurement")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    workloads = QUICK if args.quick else WORKLOADS
    payload = Payload()
    samples: dict[str, dict[str, list[Sample]]] = {w.name: {"tus": [], "direct": []} for w in workloads}
    os.environ.update(AWS_ENV)
    with tempfile.TemporaryDirectory(prefix="tusd-bench-direct-") as tmpdir:
        tmp = Path(tmpdir)
        redis_proc, redis_url = start_redis(tmp)
        moto = start_moto(tmp)
        try:
            bucket = asyncio.run(_s3.create_bucket(moto.url))
            s3 = {"endpoint": moto.url, "redis": redis_url, "bucket": bucket, "master_key": os.urandom(32).hex()}
            for r in range(repeat):
                for w in workloads:
                    for kind in ("tus", "direct") if r % 2 == 0 else ("direct", "tus"):
                        if kind == "tus":
                            sample = measure_s3("ours", w, payload, tmp, s3)
                        else:
                            sample = measure_direct(w, payload, tmp, s3)
                        samples[w.name][kind].append(sample)
                        print(
                            f"run {r + 1} {w.name:<16} {kind:<6} {sample.mbps:7.1f} MB/s, server CPU "
                            f"{sample.cpu:6.2f} s ({sample.cpu / (w.total / GiB):.3f} s/GiB)",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            moto.stop()
            redis_proc.terminate()
            redis_proc.wait()
    print(f"\nthe API server's CPU per GiB uploaded, median of {repeat}")
    print(f"{'workload':<18}{'mode':<8}{'MB/s':>8}{'CPU s':>9}{'CPU s/GiB':>11}")
    for w in workloads:
        for kind, runs in samples[w.name].items():
            cpu = statistics.median(s.cpu for s in runs)
            mbps = statistics.median(s.mbps for s in runs)
            print(f"{w.name:<18}{kind:<8}{mbps:>8.1f}{cpu:>9.2f}{cpu / (w.total / GiB):>11.3f}")
    if args.quick:
        print("\n--quick: small sizes, a smoke check only")
    if args.json:
        doc = {
            name: {kind: [s.__dict__ for s in runs] for kind, runs in kinds.items()} for name, kinds in samples.items()
        }
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
