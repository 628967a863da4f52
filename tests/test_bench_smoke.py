"""bench/bench_tus.py --quick runs end to end and produces sane numbers for every workload.

Only sanity: positive MB/s and a parsed peak RSS for every server. Never wall time or ratios,
which depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_tus import FILE_QUICK, S3_QUICK  # noqa: E402  (bench/ is not a package)


def test_quick_bench_reports_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    store = "both" if shutil.which("redis-server") else "file"
    argv = [sys.executable, str(ROOT / "bench" / "bench_tus.py"), "--quick", "--store", store, "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())

    expected = {"file": {w.name: {"ours", "baseline"} for w in FILE_QUICK}}
    if store == "both":
        expected["s3"] = {w.name: {"ours"} if w.single_patch else {"ours", "ceiling"} for w in S3_QUICK}
    assert set(results) == set(expected)
    for store_name, workloads in expected.items():
        assert {name: set(kinds) for name, kinds in results[store_name].items()} == workloads
        for kinds in results[store_name].values():
            for kind, samples in kinds.items():
                assert len(samples) == 1
                assert samples[0]["mbps"] > 0 and samples[0]["seconds"] > 0
                if kind != "ceiling":  # a server process of ours or the baseline: its peak RSS was read
                    assert 10 * 2**20 < samples[0]["rss"] < 4 * 2**30
    assert "File store" in done.stdout and ("S3 store" in done.stdout) == (store == "both")
