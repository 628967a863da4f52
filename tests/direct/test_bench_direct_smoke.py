"""bench/bench_direct.py --quick runs end to end: both modes upload everything and report the
server's CPU (sanity only: never wall time or ratios, which depend on what else runs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_quick_direct_bench_reports_both_modes(tmp_path: Path) -> None:
    out = tmp_path / "direct.json"
    argv = [sys.executable, str(ROOT / "bench" / "bench_direct.py"), "--quick", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert len(results) == 1
    (kinds,) = results.values()
    assert set(kinds) == {"tus", "direct"}
    for samples in kinds.values():
        assert len(samples) == 1
        assert samples[0]["mbps"] > 0 and samples[0]["cpu"] > 0
        assert 10 * 2**20 < samples[0]["rss"] < 4 * 2**30
    assert "CPU s/GiB" in done.stdout
