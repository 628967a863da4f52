"""Raw-socket sending for the fuzz (one connection per case, answers read to EOF), and a few
plain tus calls over raw sockets to set up and check uploads."""

from __future__ import annotations

import random
import re
import socket
import struct
import time
from dataclasses import dataclass

from .fuzzcases import OCTETS, Case

# A status line at the start of the stream or of a line: an error text that quotes the request
# line (aiohttp's 400s do, as a bytes repr) never starts a line with it.
STATUS = re.compile(rb"(?:\A|\n)HTTP/1\.[01] (\d{3})")
LOCATION_ID = re.compile(rb"\nLocation: [^\r\n]*?/files/([0-9a-f]{32})\r\n", re.IGNORECASE)


@dataclass
class Result:
    data: bytes = b""
    cut: bool = False
    timed_out: bool = False
    error: str = ""
    seconds: float = 0.0

    @property
    def statuses(self) -> list[int]:
        return [int(code) for code in STATUS.findall(self.data)]

    @property
    def locations(self) -> list[str]:
        return [m.decode() for m in LOCATION_ID.findall(self.data)]


def send_case(port: int, case: Case, *, timeout: float = 15.0, seed: int = 0) -> Result:
    """Send ``case.raw`` on a new connection. A cut case then goes away (closing the write side,
    closing, or resetting) without waiting; any other case reads the answers until EOF."""
    start = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        return Result(error=f"connect: {exc!r}", seconds=time.monotonic() - start)
    with sock:
        error = ""
        try:
            sock.sendall(case.raw)
        except OSError as exc:  # the server answered and closed before the (huge, bad) request ended
            error = f"send: {exc!r}"
        if case.cut:
            how = random.Random(seed).randrange(3)
            if how == 0:
                sock.shutdown(socket.SHUT_WR)
            elif how == 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
            return Result(cut=True, error=error, seconds=time.monotonic() - start)
        data = b""
        timed_out = False
        deadline = start + timeout
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                timed_out = True
                break
            except OSError as exc:
                error = error or f"recv: {exc!r}"
                break
            if not piece:
                break
            data += piece
            if case.answers and _complete_answers(data) >= case.answers:
                break
        return Result(data, timed_out=timed_out, error=error, seconds=time.monotonic() - start)


def _complete_answers(data: bytes) -> int:
    """How many final (non-1xx) answers, bodies included, ``data`` holds."""
    count, pos = 0, 0
    while (match := STATUS.search(data, pos)) is not None:
        end = data.find(b"\r\n\r\n", match.end())
        if end < 0:
            break
        length = re.search(rb"\nContent-Length: *(\d+)", data[match.end() : end], re.IGNORECASE)
        pos = end + 4 + (int(length.group(1)) if length else 0)
        if pos > len(data):
            break
        if not match.group(1).startswith(b"1"):
            count += 1
    return count


def call(port: int, raw: bytes, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """One request (it must say Connection: close); status, headers (lower-case names), body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while piece := sock.recv(1 << 20):
            data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def tus_create(port: int, length: int | None, *, partial: bool = False) -> str:
    extra = f"Upload-Length: {length}\r\n" if length is not None else "Upload-Defer-Length: 1\r\n"
    if partial:
        extra += "Upload-Concat: partial\r\n"
    raw = f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n{extra}Connection: close\r\n\r\n"
    status, headers, body = call(port, raw.encode())
    assert status == 201, (status, body)
    return "/files/" + headers["location"].rsplit("/", 1)[1]


def tus_patch(port: int, path: str, offset: int, body: bytes, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    raw = (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n{extra}"
        f"Content-Type: {OCTETS}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    return call(port, raw)


def tus_offset(port: int, path: str) -> int:
    raw = f"HEAD {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n"
    status, headers, _ = call(port, raw.encode())
    assert status == 200, (path, status)
    return int(headers["upload-offset"])


def tus_head(port: int, path: str) -> tuple[int, dict[str, str]]:
    raw = f"HEAD {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n"
    status, headers, _ = call(port, raw.encode())
    return status, headers


def tus_get(port: int, path: str) -> bytes:
    status, _, body = call(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status == 200, (path, status, body[:200])
    return body
