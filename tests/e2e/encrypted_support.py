"""Helpers of the encrypted end-to-end tests: a clip with a marker in its container metadata, a
tus upload over real HTTP, scanning stored bytes for plaintext, and PyAV playing signed HLS."""

from __future__ import annotations

import array
import asyncio
import base64
import os
import random
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av

TUS = {"Tus-Resumable": "1.0.0"}
# FFmpeg's hls demuxer: allow our segment URLs (query strings, any extension) and the crypto protocol
HLS_OPTIONS = {"allowed_extensions": "ALL", "protocol_whitelist": "http,https,tcp,tls,crypto,hls,file"}


def make_marked_clip(path: Path, marker: str, *, seconds: float = 2.0, width: int = 320, height: int = 240) -> Path:
    """An H.264 + AAC mp4 whose container metadata (title, comment) holds ``marker``."""
    fps = 24
    with av.open(str(path), "w") as out:
        out.metadata["title"] = marker
        out.metadata["comment"] = marker
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=48000, layout="mono")
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(os.urandom(width * height // 8) * 8)  # busy enough to need real bytes
            frame.planes[1].update(bytes([128]) * (width * height // 4))
            frame.planes[2].update(bytes([(i * 3) % 256]) * (width * height // 4))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, int(seconds * 48000), 1024):
            chunk = av.AudioFrame(format="flt", layout="mono", samples=1024)
            noise = array.array("f", (random.uniform(-0.3, 0.3) for _ in range(1024)))  # finite samples
            chunk.planes[0].update(noise.tobytes())
            chunk.sample_rate, chunk.pts = 48000, start
            out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    assert marker.encode() in path.read_bytes(), "the muxer must keep the marker for the test to mean anything"
    return path


async def tus_upload(session: aiohttp.ClientSession, base: str, data: bytes, **meta: str) -> str:
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    async with session.post(
        f"{base}/files/", headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": encoded}
    ) as resp:
        assert resp.status == 201, await resp.text()
        upload_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    async with session.patch(f"{base}/files/{upload_id}", data=data, headers=headers) as resp:
        assert resp.status == 204, await resp.text()
    return upload_id


async def wait_ready(session: aiohttp.ClientSession, base: str, upload_id: str, timeout: float = 180) -> dict[str, Any]:
    for _ in range(int(timeout * 10)):
        async with session.get(f"{base}/media/{upload_id}") as resp:
            body: dict[str, Any] = await resp.json()
        if body["state"] in ("ready", "failed"):
            assert body["state"] == "ready", body
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{upload_id} never became ready")


def informative_windows(data: bytes, size: int = 64, stride: int = 32) -> Iterator[bytes]:
    """Windows of ``data`` every ``stride`` bytes, skipping low-entropy ones (zeros, padding) that
    could match by chance. Any common run of ``size + stride - 1`` bytes contains one of them."""
    for start in range(0, max(len(data) - size + 1, 0), stride):
        window = data[start : start + size]
        if len(set(window)) >= 24:
            yield window


def find_plaintext(stored: dict[str, bytes], sources: dict[str, bytes]) -> list[str]:
    """Which stored objects contain a long run of which plaintext. Every plaintext window is
    indexed by its first 16 bytes, then every offset of every stored object is looked up."""
    index: dict[bytes, list[tuple[str, bytes]]] = {}
    for source_name, source in sources.items():
        windows = list(informative_windows(source))
        assert windows, f"{source_name} has no informative window: the scan would prove nothing"
        for window in windows:
            index.setdefault(window[:16], []).append((source_name, window))
    hits = set()
    for name, blob in stored.items():
        for at in range(len(blob) - 63):
            for source_name, window in index.get(blob[at : at + 16], ()):
                if blob[at : at + 64] == window:
                    hits.add(f"{name} holds plaintext of {source_name} at {at}")
    return sorted(hits)


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def containing(stored: dict[str, bytes], needle: bytes) -> list[str]:
    return [name for name, blob in stored.items() if needle in blob]


def decode_hls(url: str) -> dict[int, tuple[int, int, int]]:
    """Decode every video stream PyAV finds at ``url``: {stream index: (frames, width, height)}."""
    seen: dict[int, tuple[int, int, int]] = {}
    with av.open(url, options=HLS_OPTIONS, timeout=20) as container:
        for packet in container.demux(*container.streams.video):
            for frame in packet.decode():
                count, _, _ = seen.get(packet.stream.index, (0, 0, 0))
                seen[packet.stream.index] = (count + 1, frame.width, frame.height)
    return seen


def swap(data: bytes, first: int, second: int, offset: int, step: int) -> bytes:
    """``data`` with stored frames ``first`` and ``second`` (``step`` bytes each after ``offset``) swapped."""
    blob = bytearray(data)
    a, b = offset + first * step, offset + second * step
    blob[a : a + step], blob[b : b + step] = data[b : b + step], data[a : a + step]
    return bytes(blob)


def absolute(base: str, uris: Iterable[str]) -> list[str]:
    return [uri if uri.startswith("http") else base + uri for uri in uris]
