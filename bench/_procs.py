"""Subprocesses of the benchmark: the servers under test, moto and a private redis-server.

Each server runs in its own process so that its peak RSS (``VmHWM``, the kernel's exact
high-water mark of resident memory) and its CPU time belong to it alone; the load generator,
moto and Redis are never counted in it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _proc_status_kib(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queue_seconds(pid: int) -> float | None:
    """Seconds the process's main thread was runnable but waiting for a CPU (Linux schedstat):
    high when something else on the machine (or in the process) competes for the cores."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class PeakRss:
    """Peak resident memory of a process: ``VmHWM`` on Linux (exact), else psutil sampling."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._sampled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if _proc_status_kib(pid, "VmHWM") is None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        import psutil  # only where /proc has no VmHWM

        proc = psutil.Process(self.pid)
        while not self._stop.wait(0.02):
            try:
                self._sampled = max(self._sampled, proc.memory_info().rss)
            except psutil.Error:
                return

    def read(self) -> int:
        """Bytes; call while the process is still alive."""
        kib = _proc_status_kib(self.pid, "VmHWM")
        if kib is not None:
            return kib * 1024
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self._sampled


@dataclass
class Service:
    """A started subprocess, its log file and the URL it answers on."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    rss: PeakRss = field(init=False)
    cpu_at_ready: float = 0.0  # CPU seconds spent starting up, not counted in a workload
    queued_at_ready: float = 0.0  # seconds waited for a CPU while starting up, likewise

    def __post_init__(self) -> None:
        self.rss = PeakRss(self.proc.pid)

    def cpu_used(self) -> float:
        """CPU seconds since the service was ready (0 where /proc is missing)."""
        now = cpu_seconds(self.proc.pid)
        return now - self.cpu_at_ready if now is not None else 0.0

    def queue_used(self) -> float:
        """Seconds the main thread waited for a CPU since the service was ready (0 without /proc)."""
        now = queue_seconds(self.proc.pid)
        return now - self.queued_at_ready if now is not None else 0.0

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # aiohttp and moto shut down cleanly on SIGINT
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(
    name: str, argv: Sequence[str], *, env: Mapping[str, str], url: str, log_dir: Path, ready_path: str = "/"
) -> Service:
    """Start ``argv`` and wait until ``url + ready_path`` answers any HTTP status."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(argv), env={**os.environ, **env}, stdout=log, stderr=log, cwd=ROOT)
    service = Service(name, proc, url, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + ready_path, timeout=2).close()
            break
        except urllib.error.HTTPError:
            break  # it answers: ready
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                service.stop()
                raise RuntimeError(f"{name} did not start:\n{service.log_tail()}") from None
            time.sleep(0.05)
    service.cpu_at_ready = cpu_seconds(proc.pid) or 0.0
    service.queued_at_ready = queue_seconds(proc.pid) or 0.0
    return service


def start_redis(log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server on a free port, no persistence (never the shared 6379)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (the S3 benchmark needs it)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*argv, "--dir", str(log_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)


def start_moto(log_dir: Path) -> Service:
    port = free_port()
    argv = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    return start("moto", argv, env=AWS_ENV, url=f"http://127.0.0.1:{port}", log_dir=log_dir, ready_path="/moto-api/")


AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
